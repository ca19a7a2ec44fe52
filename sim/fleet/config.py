"""What a fleet is: how many devices of each kind, their ids and topics from templates, their
rate, signals and connection timing. Validated data; ``alertloop.sim.fleet.Fleet`` does the I/O."""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from alertloop.sim.errors import SimError
from alertloop.sim.signals import Signal

__all__ = ["FleetConfig", "FleetConfigError", "SignalFactory"]

# A signal for device ``index`` called ``device`` (each device needs its own when the signal
# holds state, as ``Settable`` and ``RandomWalk`` do).
SignalFactory = Callable[[int, str], Signal | Callable[[float], float]]

_KEYS = {"kind", "index", "prefix", "run", "device", "client_id"}


class FleetConfigError(SimError, ValueError):
    """A fleet setting is unusable; the message names it."""


def _check_template(name: str, template: str, allowed: set[str]) -> None:
    sample = dict.fromkeys(allowed, "x") | {"index": 0}
    try:
        template.format(**sample)
    except (KeyError, IndexError, ValueError) as exc:
        raise FleetConfigError(
            f"{name} {template!r}: {exc}; placeholders: {', '.join(sorted(allowed))}"
        ) from None


@dataclass(frozen=True)
class FleetConfig:
    """A fleet of simulated ESP32s (knobs) and NodeMCUs (LEDs) sharing one event loop.

    Templates are ``str.format`` strings. ``device_template`` knows ``{kind}`` (``esp32`` or
    ``nodemcu``), ``{index}`` (0-based per kind), ``{prefix}`` and ``{run}`` (a random id of
    this fleet, so that two fleets never share client ids); the others also ``{device}``,
    and ``status_topic`` ``{client_id}``. The default pot topic ``{prefix}/{device}/pot`` matches
    the ingester's topic template ``{prefix}/{device}/pot`` (tag ``device``).

    ``connect_rate`` caps connection attempts per second (first connects and reconnects), so
    2,000 devices do not knock on the broker at once. After losing its connection a device
    waits ``reconnect_interval`` plus a random share of ``reconnect_jitter`` seconds.
    """

    esp32: int = 0
    nodemcu: int = 0
    rate: float = 2.0
    prefix: str = "fleet"
    device_template: str = "{kind}-{index:04d}"
    client_id_template: str = "{device}-{run}"
    pot_topic: str = "{prefix}/{device}/pot"
    alert_topic: str = "{prefix}/alert"
    status_topic: str = "status/{client_id}"
    qos: int = 0
    alert_qos: int = 1
    json_payload: bool = False
    noise: float = 0.0
    seed: int | None = None
    signal: SignalFactory | None = None
    seed_compat: bool = False
    connect_rate: float = 400.0
    reconnect_interval: float = 5.0
    reconnect_jitter: float = 1.0
    keepalive: int = 15
    connect_timeout: float = 5.0
    record_published: bool = False
    run: str = field(default_factory=lambda: uuid.uuid4().hex[:6])

    def __post_init__(self) -> None:
        for name in ("esp32", "nodemcu"):
            count = getattr(self, name)
            if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                raise FleetConfigError(f"{name} must be a whole number >= 0, got {count!r}")
        positive = {
            "rate": self.rate,
            "connect_rate": self.connect_rate,
            "reconnect_interval": self.reconnect_interval,
            "connect_timeout": self.connect_timeout,
        }
        for name, value in positive.items():
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise FleetConfigError(f"{name} must be a number > 0, got {value!r}")
        if self.reconnect_jitter < 0 or self.noise < 0:
            raise FleetConfigError("reconnect_jitter and noise must be >= 0")
        if self.qos not in (0, 1) or self.alert_qos not in (0, 1, 2):
            raise FleetConfigError(
                f"qos must be 0 or 1 and alert_qos 0..2, got {self.qos!r}, {self.alert_qos!r}"
            )
        if self.keepalive < 1:
            raise FleetConfigError(f"keepalive must be >= 1 s, got {self.keepalive!r}")
        base = {"kind", "index", "prefix", "run"}
        _check_template("device_template", self.device_template, base)
        _check_template("client_id_template", self.client_id_template, base | {"device"})
        for name in ("pot_topic", "alert_topic"):
            template = getattr(self, name)
            _check_template(name, template, base | {"device", "client_id"})
            if any(ch in template for ch in "#+"):
                raise FleetConfigError(f"{name} {template!r}: no wildcards in a device topic")
        _check_template("status_topic", self.status_topic, _KEYS)

    @property
    def period(self) -> float:
        """Seconds between two publishes of one ESP32."""
        return 1.0 / self.rate

    @property
    def size(self) -> int:
        return self.esp32 + self.nodemcu

    def names(self, kind: str, index: int) -> dict[str, str]:
        """The device id, client id and topics of device ``index`` of ``kind``."""
        values: dict[str, object] = {
            "kind": kind,
            "index": index,
            "prefix": self.prefix,
            "run": self.run,
        }
        values["device"] = self.device_template.format(**values)
        values["client_id"] = self.client_id_template.format(**values)
        return {
            "device": str(values["device"]),
            "client_id": str(values["client_id"]),
            "pot_topic": self.pot_topic.format(**values),
            "alert_topic": self.alert_topic.format(**values),
            "status_topic": self.status_topic.format(**values),
        }

    @property
    def ingester_topic(self) -> str:
        """The ingester topic template that stores each ESP32's id as the tag ``device``
        (``pot_topic`` with ``{device}`` left as the placeholder)."""
        return self.pot_topic.replace("{prefix}", self.prefix).replace("{run}", self.run)
