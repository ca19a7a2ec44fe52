"""One device of a fleet: its paho client, its state and the paho callbacks.

Each device behaves as one ``SimEsp32``/``SimNodeMcu``: last will ``status/<client-id>`` =
``offline`` (retained), ``online`` on connect, the knob sketch's ``adc * 100 // 4095`` (or JSON
with ``value``, ``ts``, ``seq``), the LED sketch's rules (``alertloop.sim.leds``), subscribe again on
every connection so the retained ``/alert`` brings the state at once. The callbacks run in the
fleet's loop thread only (``alertloop.sim.fleet.loop``), so they update plain attributes without locks.
"""

from __future__ import annotations

import json
import random
import threading
import time
from array import array
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import paho.mqtt.client as paho

from alertloop.services.common.config import MqttSettings
from alertloop.services.common.mqtt import make_client
from alertloop.sim.board_api.protocol import LedChange, LedState
from alertloop.sim.esp32 import ADC_MAX, adc_for_percent, percent_for_adc
from alertloop.sim.leds import decide_leds
from alertloop.sim.schedule import Schedule
from alertloop.sim.signals import Settable

if TYPE_CHECKING:
    from alertloop.sim.fleet.loop import FleetLoop

__all__ = ["FleetDevice", "FleetEsp32", "FleetNodeMcu"]

LED_HISTORY = 64


class FleetDevice:
    """What both kinds share: identity, the client, connection state and counters."""

    kind = "device"

    def __init__(
        self,
        loop: FleetLoop,
        mqtt: MqttSettings,
        index: int,
        names: dict[str, str],
    ) -> None:
        self.loop = loop
        self.index = index
        self.device_id = names["device"]
        self.client_id = names["client_id"]
        self.status_topic = names["status_topic"]
        self.client = make_client(mqtt, self.client_id)
        self.client.user_data_set(self)
        self.client.will_set(self.status_topic, "offline", qos=1, retain=True)
        self.client.on_connect = self._paho_connect
        self.client.on_disconnect = self._paho_disconnect
        self.client.on_socket_open = loop.socket_opened
        self.client.on_socket_close = loop.socket_closed
        self.connected = False
        self.connecting = False
        self.attempt = 0
        self.write_registered = False
        self.connects = 0
        self.disconnects = 0
        self.connect_failures = 0
        self.first_connected: float | None = None  # loop clock
        self.last_state = "new"

    def _paho_connect(
        self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        self.connecting = False
        if reason.is_failure:
            self.connect_failures += 1
            self.last_state = f"refused: {reason}"
            self.loop.connection_failed(self)
            return
        self.connected = True
        self.connects += 1
        self.last_state = "connected"
        client.publish(self.status_topic, "online", qos=1, retain=True)
        self.loop.device_connected(self)
        self._on_connected(client)

    def _paho_disconnect(
        self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        if self.connected or self.connecting:
            if self.connected:
                self.disconnects += 1
            self.last_state = f"disconnected: {reason}"
            self.loop.connection_lost(self)

    def _on_connected(self, client: paho.Client) -> None:
        """Runs after each accepted connection (in the loop thread)."""


class FleetEsp32(FleetDevice):
    """A knob: publishes ``period``-spaced readings of its signal while connected."""

    kind = "esp32"

    def __init__(
        self,
        loop: FleetLoop,
        mqtt: MqttSettings,
        index: int,
        names: dict[str, str],
        *,
        period: float,
        qos: int,
        json_payload: bool,
        noise: float,
        seed: int | None,
        signal: Callable[[float], float] | None,
        record: bool,
    ) -> None:
        super().__init__(loop, mqtt, index, names)
        self.topic = names["pot_topic"]
        self.period = period
        self.qos = qos
        self.json_payload = json_payload
        self.noise = noise
        self._rng = random.Random(None if seed is None else seed * 100_003 + index)
        self._signal: Callable[[float], float] = signal if signal is not None else Settable(0.0)
        self._signal_start: float | None = None
        self._signal_lock = threading.Lock()
        self.schedule: Schedule | None = None
        self.seq = 0
        self.published = 0
        self.acked = 0
        self.failed = 0
        self.skipped = 0
        self.last_value: int | None = None
        self._pending: set[int] = set()
        # the ts (epoch ms) of every publish when the fleet records them; seq n is record[n - 1]
        self.record: array[int] | None = array("q") if record else None
        if qos:  # paho builds reason codes and properties for each call: only when needed
            self.client.on_publish = self._paho_publish

    # -- the knob (any thread) ------------------------------------------------------------
    def set_knob(self, percent: float) -> None:
        """Turn this device's knob to ``percent`` (stops following a signal)."""
        with self._signal_lock:
            if isinstance(self._signal, Settable):
                self._signal.set(percent)
            else:
                self._signal = Settable(percent)
                self._signal_start = time.monotonic()

    def follow(self, signal: Callable[[float], float]) -> None:
        """Follow ``signal`` from now on (its time 0 is now)."""
        if not callable(signal):
            raise TypeError(f"a signal is a callable of elapsed seconds, not {signal!r}")
        with self._signal_lock:
            self._signal = signal
            self._signal_start = time.monotonic()

    @property
    def knob(self) -> float:
        with self._signal_lock:
            signal, start = self._signal, self._signal_start
        elapsed = 0.0 if start is None else time.monotonic() - start
        return min(100.0, max(0.0, float(signal(elapsed))))

    def read_value(self) -> int:
        adc = adc_for_percent(self.knob)
        if self.noise:
            adc = min(ADC_MAX, max(0, round(adc + self._rng.gauss(0.0, self.noise))))
        return percent_for_adc(adc)

    # -- loop thread ----------------------------------------------------------------------
    def start_schedule(self, now: float, offset: float) -> None:
        if self._signal_start is None:
            self._signal_start = time.monotonic()
        self.schedule = Schedule(self.period, now + offset)

    def tick(self) -> bool:
        """One ``loop()`` publish; True when the message went out."""
        if not self.connected:
            self.skipped += 1
            return False
        value = self.read_value()
        seq = self.seq + 1
        when_ms = int(time.time() * 1000)
        if self.json_payload:
            payload = json.dumps({"value": value, "ts": when_ms, "seq": seq}, separators=(",", ":"))
        else:
            payload = str(value)
        info = self.client.publish(self.topic, payload, qos=self.qos)
        if info.rc != 0:
            self.failed += 1
            return False
        self.seq = seq
        self.published += 1
        self.last_value = value
        if self.qos:
            self._pending.add(info.mid)
        if self.record is not None:
            self.record.append(when_ms)
        return True

    def _paho_publish(self, client: Any, userdata: Any, mid: int, reason: Any, props: Any) -> None:
        if mid in self._pending:
            self._pending.discard(mid)
            self.acked += 1

    @property
    def in_flight(self) -> int:
        """QoS 1 messages published but not acknowledged yet."""
        return len(self._pending)


class FleetNodeMcu(FleetDevice):
    """An LED board: subscribes to its alert topic and lights red on ``1``, green on ``0``."""

    kind = "nodemcu"

    def __init__(
        self,
        loop: FleetLoop,
        mqtt: MqttSettings,
        index: int,
        names: dict[str, str],
        *,
        qos: int,
        seed_compat: bool,
    ) -> None:
        super().__init__(loop, mqtt, index, names)
        self.topic = names["alert_topic"]
        self.qos = qos
        self.seed_compat = seed_compat
        self.subscribed = False
        self.messages = 0
        self.led = LedState(False, False)
        self.changes: deque[LedChange] = deque(maxlen=LED_HISTORY)
        self.changes.append(LedChange(time.time(), self.led))
        self.client.on_subscribe = self._paho_subscribe
        self.client.on_message = self._paho_message

    def _on_connected(self, client: paho.Client) -> None:
        self.subscribed = False
        client.subscribe(self.topic, qos=self.qos)

    def _paho_disconnect(
        self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        self.subscribed = False
        super()._paho_disconnect(client, userdata, flags, reason, props)

    def _paho_subscribe(self, client: Any, userdata: Any, mid: int, codes: Any, props: Any) -> None:
        self.subscribed = all(not code.is_failure for code in codes)

    def _paho_message(self, client: Any, userdata: Any, msg: paho.MQTTMessage) -> None:
        self.messages += 1
        state = decide_leds(bytes(msg.payload), self.seed_compat).state
        if state != self.led:
            self.led = state
            self.changes.append(LedChange(time.time(), state))

    def changed_to(self, name: str, since: float | None) -> LedChange | None:
        """The change that set ``name`` (at or after ``since``, epoch s, when given)."""
        if since is None:
            last = self.changes[-1]
            return last if last.state.name == name else None
        for change in list(self.changes):
            if change.time >= since and change.state.name == name:
                return change
        return None
