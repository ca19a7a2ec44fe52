"""Fault schedules: proxy faults and server stops/starts at given times, from YAML.

.. code-block:: yaml

    name: a bad minute
    steps:
      - {at: 0,  proxy: mqtt, do: latency, ms: 200, jitter_ms: 50, for: 10}
      - {at: 15, proxy: ingester, do: stall, for: 8}       # heals itself at 23 s
      - {at: 30, server: influxdb, do: stop, for: 20}      # starts again at 50 s
      - {at: 55, server: mqtt, do: restart}
      - {at: 58, proxy: mqtt, do: drop}

Proxy actions: ``latency`` (``ms``, ``jitter_ms``), ``bandwidth`` (``bytes_per_s``), ``stall``,
``refuse``, ``drop`` (``reset``, default true), ``heal``; ``for`` heals after that many
seconds. Server actions (``stack.servers[name]``): ``stop``, ``kill``, ``start``, ``restart``;
``for`` starts the server again after that many seconds. ``FaultRunner`` plays a schedule
against named proxies and servers and records when each step really ran.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import yaml

from alertloop.hil.faults.proxy import FaultProxy
from alertloop.hil.stack.base import ServerControl
from alertloop.services.common.errors import AlertloopError
from alertloop.services.common.lifecycle import Lifecycle

__all__ = ["FaultEvent", "FaultRunner", "FaultSchedule", "FaultScheduleError", "FaultStep"]

log = logging.getLogger(__name__)

PROXY_ACTIONS: dict[str, set[str]] = {
    "latency": {"ms", "jitter_ms"},
    "bandwidth": {"bytes_per_s"},
    "stall": set(),
    "refuse": set(),
    "drop": {"reset"},
    "heal": set(),
}
SERVER_ACTIONS = {"stop", "kill", "start", "restart"}
_COMMON = {"at", "do", "for", "proxy", "server", "note"}


class FaultScheduleError(AlertloopError):
    """A schedule file or step is invalid; the message names the step and the field."""


@dataclass(frozen=True)
class FaultStep:
    """One action at ``at`` seconds on a proxy or a server."""

    at: float
    target: str
    kind: str  # "proxy" or "server"
    action: str
    params: Mapping[str, Any] = field(default_factory=dict)
    note: str = ""

    def describe(self) -> str:
        extra = ", ".join(f"{k}={v}" for k, v in self.params.items())
        return f"{self.kind} {self.target}: {self.action}" + (f" ({extra})" if extra else "")


@dataclass(frozen=True)
class FaultSchedule:
    """Steps sorted by time; ``from_yaml``/``load`` validate and expand ``for``."""

    steps: tuple[FaultStep, ...]
    name: str = ""

    @property
    def length(self) -> float:
        return self.steps[-1].at if self.steps else 0.0

    def targets(self, kind: str) -> set[str]:
        return {step.target for step in self.steps if step.kind == kind}

    @classmethod
    def from_dict(cls, data: Any, source: str = "<schedule>") -> FaultSchedule:
        if isinstance(data, list):
            data = {"steps": data}
        if not isinstance(data, Mapping) or not isinstance(data.get("steps"), list):
            raise FaultScheduleError(f"{source}: a schedule is a mapping with a list of 'steps'")
        unknown = set(data) - {"name", "description", "steps"}
        if unknown:
            raise FaultScheduleError(f"{source}: unknown key(s) {sorted(map(str, unknown))}")
        steps: list[FaultStep] = []
        for index, raw in enumerate(data["steps"]):
            steps.extend(_parse_step(raw, f"{source}: steps[{index}]"))
        steps.sort(key=lambda step: step.at)
        return cls(tuple(steps), str(data.get("name", "")))

    @classmethod
    def from_yaml(cls, text: str, source: str = "<string>") -> FaultSchedule:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise FaultScheduleError(f"{source}: not valid YAML: {exc}") from None
        return cls.from_dict(data, source)

    @classmethod
    def load(cls, path: str | Path) -> FaultSchedule:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise FaultScheduleError(f"{path}: cannot read: {exc.strerror or exc}") from None
        return cls.from_yaml(text, str(path))


def _seconds(value: Any, where: str, *, positive: bool = False) -> float:
    ok = not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)
    if not ok or value < 0 or (positive and value == 0):
        raise FaultScheduleError(
            f"{where}: must be a number of seconds {'> 0' if positive else '>= 0'}, got {value!r}"
        )
    return float(value)


def _parse_step(raw: Any, where: str) -> list[FaultStep]:
    if not isinstance(raw, Mapping):
        raise FaultScheduleError(
            f"{where}: a step is a mapping like {{at: 5, proxy: mqtt, do: stall}}"
        )
    kinds = [kind for kind in ("proxy", "server") if kind in raw]
    if len(kinds) != 1:
        raise FaultScheduleError(f"{where}: a step names exactly one 'proxy' or 'server'")
    kind = kinds[0]
    target, action = str(raw[kind]), raw.get("do")
    allowed = (
        PROXY_ACTIONS.get(str(action))
        if kind == "proxy"
        else (set() if action in SERVER_ACTIONS else None)
    )
    if allowed is None:
        choices = sorted(PROXY_ACTIONS) if kind == "proxy" else sorted(SERVER_ACTIONS)
        raise FaultScheduleError(
            f"{where}.do: {action!r} is not a {kind} action; one of {', '.join(choices)}"
        )
    unknown = set(raw) - _COMMON - allowed
    if unknown:
        raise FaultScheduleError(
            f"{where}: unknown field(s) {sorted(map(str, unknown))} for {action}; it takes {sorted(allowed) or 'none'}"
        )
    at = _seconds(raw.get("at"), f"{where}.at")
    params = {key: raw[key] for key in allowed if key in raw}
    for key in ("ms", "jitter_ms", "bytes_per_s"):
        if key in params:
            _seconds(params[key], f"{where}.{key}", positive=key == "bytes_per_s")
    if action == "latency" and "ms" not in params:
        raise FaultScheduleError(f"{where}: latency needs ms")
    if action == "bandwidth" and "bytes_per_s" not in params:
        raise FaultScheduleError(f"{where}: bandwidth needs bytes_per_s")
    note = str(raw.get("note", ""))
    steps = [FaultStep(at, target, kind, str(action), params, note)]
    if "for" in raw:
        length = _seconds(raw["for"], f"{where}.for", positive=True)
        undo = {"proxy": "heal", "server": "start"}[kind]
        if action in ("heal", "start", "restart", "drop"):
            raise FaultScheduleError(
                f"{where}.for: {action} is over at once; 'for' fits faults that last"
            )
        steps.append(FaultStep(at + length, target, kind, undo, {}, f"end of {action}"))
    return steps


@dataclass(frozen=True)
class FaultEvent:
    """A step as it ran: planned offset, epoch time it ran, and the error if it failed."""

    step: FaultStep
    time: float
    error: str | None = None


class FaultRunner(Lifecycle):
    """Plays ``schedule`` from ``start()`` on, in a thread, against ``proxies`` and ``servers``.

    Raises FaultScheduleError at construction when a step names an unknown proxy or server.
    """

    def __init__(
        self,
        schedule: FaultSchedule,
        proxies: Mapping[str, FaultProxy] | None = None,
        servers: Mapping[str, ServerControl] | None = None,
    ) -> None:
        self.schedule = schedule
        self.proxies = dict(proxies or {})
        self.servers = dict(servers or {})
        for kind, known in (("proxy", self.proxies), ("server", self.servers)):
            missing = schedule.targets(kind) - set(known)
            if missing:
                raise FaultScheduleError(
                    f"the schedule uses {kind} {sorted(missing)}, known: {sorted(known) or 'none'}"
                )
        self.events: list[FaultEvent] = []
        self.started_at: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Self:
        self.started_at = time.time()
        self._thread = threading.Thread(target=self._run, name="fault-runner", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Skip what has not run yet."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(60)

    @property
    def done(self) -> bool:
        return self._thread is not None and not self._thread.is_alive()

    def wait(self, timeout: float) -> None:
        """Wait until every step has run. Raises TimeoutError naming the next step."""
        assert self._thread is not None
        self._thread.join(timeout)
        if self._thread.is_alive():
            ran = len(self.events)
            upcoming = (
                self.schedule.steps[ran].describe() if ran < len(self.schedule.steps) else "?"
            )
            raise TimeoutError(f"fault schedule not done after {timeout:.0f} s; next: {upcoming}")

    def _run(self) -> None:
        begin = time.monotonic()
        for step in self.schedule.steps:
            if self._stop.wait(max(0.0, begin + step.at - time.monotonic())):
                return
            error = None
            try:
                self.apply(step)
            except Exception as exc:  # a failed step is recorded, the schedule goes on
                error = repr(exc)
                log.warning("fault step %s failed: %s", step.describe(), exc)
            self.events.append(FaultEvent(step, time.time(), error))

    def apply(self, step: FaultStep) -> None:
        """Run one step now."""
        if step.kind == "server":
            server = self.servers[step.target]
            if step.action == "restart":
                server.stop()
                server.start()
            else:
                getattr(server, step.action)()
            return
        proxy = self.proxies[step.target]
        params = step.params
        if step.action == "latency":
            proxy.set_latency(params["ms"] / 1000, params.get("jitter_ms", 0) / 1000)
        elif step.action == "bandwidth":
            proxy.set_bandwidth(float(params["bytes_per_s"]))
        elif step.action == "drop":
            proxy.drop(reset=bool(params.get("reset", True)))
        else:
            getattr(proxy, step.action)()
