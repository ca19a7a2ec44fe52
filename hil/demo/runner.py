"""``alertloop demo``: the whole loop on one machine, with simulated boards.

Starts the stack (auto backend), the ingester, the webhook (a generated user with a hashed
password), the alert evaluator with every provisioned rule (Grafana's 10 s interval unless
told to go faster than Grafana), a simulated ESP32 following a knob profile and a simulated
NodeMCU; samples everything four times a second for the live view; at the end reads the
stored points back from InfluxDB and checks that the LEDs followed every crossing of the
loop rule's 10 s mean in time, and that nothing else (the other provisioned rule, which fires
during the run) moved them.
"""

from __future__ import annotations

import contextlib
import logging
import math
import secrets
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alertloop.hil.boards.factory import create_esp32, create_nodemcu
from alertloop.hil.demo.analysis import (
    Crossing,
    LoopCheck,
    check_loop,
    mean_crossings,
    unexplained_changes,
)
from alertloop.hil.demo.profile import choose_profile
from alertloop.hil.stack import Stack, create_stack
from alertloop.services.common.deadline import Deadline
from alertloop.services.ingester import Ingester, IngesterConfig
from alertloop.services.webhook import WebhookConfig, WebhookServer
from alertloop.services.webhook.passwords import hash_password
from alertloop.sim.alerting import AlertEvaluator, check_interval
from alertloop.sim.alerting.notifier import Delivery
from alertloop.sim.alerting.state import Evaluation
from alertloop.sim.board_api.protocol import LedChange, Published
from alertloop.sim.esp32 import SimEsp32
from alertloop.sim.nodemcu import SimNodeMcu
from alertloop.sim.signals import Settable

log = logging.getLogger(__name__)

POT_TOPIC = "/pot"
ALERT_TOPIC = "/alert"
SAMPLE_PERIOD = 0.25
DEFAULT_MARGIN = 2.0


@dataclass(frozen=True)
class DemoOptions:
    """What to run: profile, length, evaluation interval, stack backend, allowed margin."""

    duration: float | None = None
    scenario: Path | None = None
    forever: bool = False
    interval: float | None = None
    faster_than_grafana: bool = False
    backend: str = "auto"
    margin: float = DEFAULT_MARGIN
    noise: float = 10.0
    period: float = 0.5
    boards: str = "sim"


@dataclass(frozen=True)
class Snapshot:
    """The loop at one moment, for the live view."""

    elapsed: float
    knob: float | None
    value: int | None
    mean: float | None
    threshold: float
    state: str
    led: str
    published: int
    stored: int
    notifications: int
    alert_messages: int
    last_latency: float | None
    remaining: float
    others: str = ""


@dataclass
class DemoResult:
    """Everything the run produced: events, stored points, crossings and checks."""

    backend: str
    started: float
    ended: float
    threshold: float
    window: float
    interval: float
    margin: float
    published: list[Published] = field(default_factory=list)
    stored: list[tuple[float, float]] = field(default_factory=list)
    evaluations: list[Evaluation] = field(default_factory=list)
    leds: list[LedChange] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    alert_messages: int = 0
    crossings: list[Crossing] = field(default_factory=list)
    checks: list[LoopCheck] = field(default_factory=list)
    faster_than_grafana: bool = False
    other_rules: dict[str, list[Evaluation]] = field(default_factory=dict)
    unexplained: list[LedChange] = field(default_factory=list)
    interrupted: bool = False

    @property
    def allowed(self) -> float:
        """How long the LED may take after the mean crossed: one interval + the margin."""
        return self.interval + self.margin

    @property
    def passed(self) -> bool:
        return all(check.ok for check in self.checks) and not self.unexplained


def alert_to_led_latency(evaluations: list[Evaluation], leds: list[LedChange]) -> float | None:
    """From the last evaluation that changed the alert state to the LED showing it."""
    for evaluation in reversed(evaluations):
        if not evaluation.changed or evaluation.state.value not in ("Alerting", "Normal"):
            continue
        colour = "red" if evaluation.state.value == "Alerting" else "green"
        for change in leds:
            if change.time >= evaluation.time and change.state.name == colour:
                return change.time - evaluation.time
        return None
    return None


class DemoRunner:
    """Runs the demo; ``run(on_sample)`` returns a DemoResult. ``stop()`` ends it early.

    Raises StackError when no stack can start, ScenarioError for a bad scenario file,
    ConfigError for bad options.
    """

    def __init__(self, options: DemoOptions) -> None:
        self.options = options
        if options.interval is not None:
            check_interval(options.interval, options.faster_than_grafana)
        self.profile, self.length = choose_profile(
            options.scenario, options.duration, options.forever
        )
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()

    def run(self, on_sample: Callable[[Snapshot], None] | None = None) -> DemoResult:
        with contextlib.ExitStack() as resources:
            workdir = Path(
                resources.enter_context(tempfile.TemporaryDirectory(prefix="alertloop-demo-"))
            )
            stack: Stack = create_stack(self.options.backend)
            resources.enter_context(stack)
            parts = self._start_parts(stack, workdir, resources)
            result = self._play(stack, parts, on_sample)
            self._finish(stack, parts, result)
        return result

    # -- setup ---------------------------------------------------------------------------
    def _start_parts(
        self, stack: Stack, workdir: Path, resources: contextlib.ExitStack
    ) -> dict[str, Any]:
        influx = stack.influx
        client = influx.client()
        try:
            client.create_database(influx.database)
        finally:
            client.close()
        ingester = Ingester(
            IngesterConfig(
                mqtt=stack.mqtt,
                influx=influx,
                topics=[POT_TOPIC],
                client_id=f"alertloop-demo-ingester-{secrets.token_hex(3)}",
                spool_dir=workdir / "spool",
                flush_interval=0.2,
            )
        )
        resources.enter_context(ingester)
        user, password = f"demo-{secrets.token_hex(3)}", secrets.token_urlsafe(18)
        webhook = WebhookServer(
            WebhookConfig(
                mqtt=stack.mqtt,
                users={user: hash_password(password)},
                bind="127.0.0.1:0",
                topic=ALERT_TOPIC,
            )
        )
        resources.enter_context(webhook)
        if self.options.boards == "sim":
            nodemcu: Any = SimNodeMcu(stack.mqtt, topic=ALERT_TOPIC, reconnect_interval=1.0)
            esp32: Any = SimEsp32(
                stack.mqtt, topic=POT_TOPIC, period=self.options.period, noise=self.options.noise,
                reconnect_interval=1.0, signal=Settable(self.profile(0.0)),
            )  # fmt: skip
        else:  # the real sketches, built for Linux (alertloop.hil.boards.virtual)
            nodemcu = create_nodemcu(self.options.boards, mqtt=stack.mqtt, topic=ALERT_TOPIC)
            esp32 = create_esp32(self.options.boards, mqtt=stack.mqtt, topic=POT_TOPIC)
        resources.enter_context(nodemcu)
        resources.enter_context(esp32)
        if self.options.boards != "sim":
            esp32.set_knob(self.profile(0.0))
        evaluator = AlertEvaluator(
            influx, f"{webhook.url}/alert", user, password, interval=self.options.interval,
            faster_than_grafana=self.options.faster_than_grafana,
        )  # fmt: skip
        ingester.wait_connected(15.0)
        webhook.wait_connected(15.0)
        nodemcu.wait_connected(15.0)
        esp32.wait_connected(15.0)
        resources.enter_context(evaluator)
        return {
            "ingester": ingester,
            "webhook": webhook,
            "nodemcu": nodemcu,
            "esp32": esp32,
            "evaluator": evaluator,
        }

    # -- the run -------------------------------------------------------------------------
    def _play(
        self, stack: Stack, parts: dict[str, Any], on_sample: Callable[[Snapshot], None] | None
    ) -> DemoResult:
        esp32: SimEsp32 = parts["esp32"]
        nodemcu: SimNodeMcu = parts["nodemcu"]
        evaluator: AlertEvaluator = parts["evaluator"]
        rule = evaluator.rule
        result = DemoResult(
            stack.backend, time.time(), 0.0, rule.threshold_value, rule.window, evaluator.interval,
            self.options.margin, faster_than_grafana=self.options.faster_than_grafana,
        )  # fmt: skip
        esp32.follow(self.profile)
        settle: Deadline | None = None
        try:
            while not self._stop.is_set():
                elapsed = time.time() - result.started
                if on_sample is not None:
                    on_sample(self._snapshot(result, parts, elapsed, settle))
                if elapsed >= self.length:
                    if settle is None:  # hold the last position until the LED has caught up
                        if esp32.knob is not None:
                            esp32.set_knob(esp32.knob)
                        settle = Deadline(result.allowed + 0.5)
                    if settle.expired or self._settled(result, esp32, nodemcu):
                        break
                self._stop.wait(SAMPLE_PERIOD)
        except KeyboardInterrupt:
            result.interrupted = True
        result.interrupted = result.interrupted or self._stop.is_set()
        return result

    def _settled(self, result: DemoResult, esp32: SimEsp32, nodemcu: SimNodeMcu) -> bool:
        """Whether the LED already shows what the mean of the last window asks for."""
        recent = [p.value for p in esp32.published if p.time >= time.time() - result.window]
        if not recent or nodemcu.led.name == "off":
            return nodemcu.led.name == "off" and not any(e.changed for e in result.evaluations)
        wanted = "red" if sum(recent) / len(recent) > result.threshold else "green"
        return nodemcu.led.name == wanted

    def _snapshot(
        self, result: DemoResult, parts: dict[str, Any], elapsed: float, settle: Deadline | None
    ) -> Snapshot:
        esp32: SimEsp32 = parts["esp32"]
        nodemcu: SimNodeMcu = parts["nodemcu"]
        evaluator: AlertEvaluator = parts["evaluator"]
        published = esp32.published
        now = time.time()
        recent = [p.value for p in published if p.time >= now - result.window]
        notifier = evaluator.notifier
        result.evaluations = evaluator.history
        remaining = settle.remaining if settle is not None else max(0.0, self.length - elapsed)
        return Snapshot(
            elapsed=elapsed,
            knob=esp32.knob,
            value=published[-1].value if published else None,
            mean=sum(recent) / len(recent) if recent else None,
            threshold=result.threshold,
            state=evaluator.state.value,
            led=nodemcu.led.name,
            published=len(published),
            stored=int(parts["ingester"].stats.get("written", 0)),
            notifications=len(notifier.deliveries) if notifier else 0,
            alert_messages=nodemcu.handled,
            last_latency=alert_to_led_latency(result.evaluations, nodemcu.history),
            remaining=remaining,
            others=" ".join(
                f"{r.rule.title}={r.state.value}"
                for uid, r in evaluator.rules.items()
                if uid != evaluator.rule.uid
            ),
        )

    def _finish(self, stack: Stack, parts: dict[str, Any], result: DemoResult) -> None:
        esp32: SimEsp32 = parts["esp32"]
        nodemcu: SimNodeMcu = parts["nodemcu"]
        evaluator: AlertEvaluator = parts["evaluator"]
        result.ended = time.time()
        esp32.stop()
        result.published = esp32.published
        result.leds = nodemcu.history
        result.alert_messages = nodemcu.handled
        result.evaluations = evaluator.history
        result.other_rules = {
            r.rule.title: evaluator.history_of(uid)
            for uid, r in evaluator.rules.items()
            if uid != evaluator.rule.uid
        }
        evaluator.stop()
        result.deliveries = list(evaluator.notifier.deliveries) if evaluator.notifier else []
        parts["ingester"].stop()  # writes what it still holds
        result.stored = read_points(stack, result.started - 1.0)
        # points also leave the window after the end; only what happened during the run counts
        crossings = mean_crossings(result.stored, result.window, result.threshold)
        result.crossings = [c for c in crossings if c.time <= result.ended]
        result.checks = check_loop(result.crossings, result.leds, result.allowed, result.ended)
        result.unexplained = unexplained_changes(result.crossings, result.leds, result.allowed)


def read_points(stack: Stack, since: float) -> list[tuple[float, float]]:
    """The stored ``pot`` points since ``since`` (epoch s) as (time, value), oldest first."""
    client = stack.influx.client()
    try:
        rows = client.query(
            f'SELECT "value" FROM "pot" WHERE time >= {int(since * 1000)}ms', epoch="ms"
        ).get_points()
        return [
            (row["time"] / 1000.0, float(row["value"])) for row in rows if row["value"] is not None
        ]
    finally:
        client.close()


def describe(value: float | None, unit: str = "s") -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.2f} {unit}"
