"""A simulated ESP32 running the seed's knob sketch.

Every ``period`` s it reads the knob through a 12-bit ADC (0..4095, with optional Gaussian
noise in ADC counts) and publishes ``adc * 100 // 4095`` as ASCII (or, opt-in, JSON with
``value``, ``ts`` in epoch ms and ``seq``). The knob follows a signal: ``set_knob`` for a
knob turned by hand (the default), ``follow`` for a ramp, sine, scenario, CSV replay...
"""

from __future__ import annotations

import json
import math
import random
import threading
import time
from collections import deque
from collections.abc import Callable

from alertloop.services.common.config import MqttSettings
from alertloop.services.common.mqtt import new_client_id
from alertloop.sim.board import SimMqttBoard
from alertloop.sim.board_api.protocol import Published
from alertloop.sim.board_api.recording import SensorRecorder
from alertloop.sim.schedule import Schedule
from alertloop.sim.serial_log import SerialLog
from alertloop.sim.signals import Settable, Signal

__all__ = ["ADC_MAX", "SimEsp32", "adc_for_percent", "percent_for_adc"]

ADC_MAX = 4095


def adc_for_percent(percent: float) -> int:
    """The ADC count a knob at ``percent`` reads (noise-free), chosen so that
    ``percent_for_adc(adc_for_percent(p)) == p`` for every integer ``p`` in 0..100."""
    clamped = min(100.0, max(0.0, float(percent)))
    return min(ADC_MAX, math.ceil(clamped * ADC_MAX / 100 - 1e-9))


def percent_for_adc(adc: int) -> int:
    """The sketch's ``(analogRead(pin) * 100) / 4095`` in integer arithmetic."""
    return adc * 100 // ADC_MAX


class SimEsp32(SimMqttBoard, SensorRecorder):
    """The knob board. Implements ``alertloop.hil.boards.SensorBoard``.

    Raises ValueError for a non-positive ``period``, negative ``noise`` or a QoS other than
    0 or 1.
    """

    name = "esp32"

    def __init__(
        self,
        mqtt: MqttSettings,
        topic: str = "/pot",
        client_id: str | None = None,
        period: float = 0.5,
        signal: Signal | Callable[[float], float] | None = None,
        noise: float = 0.0,
        json_payload: bool = False,
        seed: int | None = None,
        reconnect_interval: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        *,
        qos: int = 0,
        serial: SerialLog | None = None,
    ) -> None:
        if not period > 0:
            raise ValueError(f"period must be > 0, got {period!r}")
        if noise < 0:
            raise ValueError(f"noise must be >= 0 ADC counts, got {noise!r}")
        if qos not in (0, 1):
            raise ValueError(f"qos must be 0 or 1, got {qos!r}")
        SensorRecorder.__init__(self)
        SimMqttBoard.__init__(
            self,
            mqtt,
            client_id or new_client_id("esp32"),
            reconnect_interval=reconnect_interval,
            clock=clock,
            serial=serial,
        )
        self.topic = topic
        self.period = period
        self.noise = noise
        self.json_payload = json_payload
        self.qos = qos
        self._rng = random.Random(seed)
        self._signal_lock = threading.Lock()
        self._signal: Callable[[float], float] = signal if signal is not None else Settable(0.0)
        self._signal_start: float | None = None
        self._schedule: Schedule | None = None
        self._seq = 0
        self._lateness: deque[float] = deque(maxlen=10_000)

    # -- the knob -------------------------------------------------------------------------
    def set_knob(self, percent: float) -> None:
        """Turn the knob to ``percent`` and leave it there (stops following a signal).

        Raises SignalError unless 0 <= percent <= 100."""
        with self._signal_lock:
            if isinstance(self._signal, Settable):
                self._signal.set(percent)
            else:
                self._signal = Settable(percent)
                self._signal_start = self.clock()

    def follow(self, signal: Signal | Callable[[float], float]) -> None:
        """Let the knob follow ``signal``, with its time 0 now (or at ``start()``)."""
        if not callable(signal):
            raise TypeError(f"a signal is a callable of elapsed seconds, not {signal!r}")
        with self._signal_lock:
            self._signal = signal
            self._signal_start = self.clock() if self.running else None

    @property
    def signal(self) -> Callable[[float], float]:
        """What the knob follows now."""
        with self._signal_lock:
            return self._signal

    def signal_elapsed(self) -> float:
        """Seconds since the current signal started (0 before the board starts)."""
        with self._signal_lock:
            start = self._signal_start
        return 0.0 if start is None else self.clock() - start

    @property
    def knob(self) -> float:
        """Where the knob is now, in percent (clamped to 0..100)."""
        with self._signal_lock:
            signal, start = self._signal, self._signal_start
        elapsed = 0.0 if start is None else self.clock() - start
        return min(100.0, max(0.0, float(signal(elapsed))))

    def read_adc(self) -> int:
        """One ``analogRead``: the knob's ADC count plus noise, clamped to 0..4095."""
        adc = adc_for_percent(self.knob)
        if self.noise:
            adc = round(adc + self._rng.gauss(0.0, self.noise))
        return min(ADC_MAX, max(0, adc))

    # -- the sketch's loop -----------------------------------------------------------------
    def _on_thread_start(self) -> None:
        now = self.clock()
        with self._signal_lock:
            if self._signal_start is None:
                self._signal_start = now
        self._schedule = Schedule(self.period, now)

    def _next_wakeup(self) -> float | None:
        return self._schedule.next if self._schedule is not None else None

    def _tick(self, now: float) -> None:
        schedule = self._schedule
        if schedule is None or not schedule.due(now):
            return
        if self._publish(percent_for_adc(self.read_adc())):
            self._lateness.append(schedule.lateness(now))
        schedule.advance(now)

    def _publish(self, value: int) -> bool:
        client = self._client
        assert client is not None
        seq = self._seq + 1
        when = time.time()
        if self.json_payload:
            payload = json.dumps(
                {"value": value, "ts": int(when * 1000), "seq": seq}, separators=(",", ":")
            )
        else:
            payload = str(value)
        info = client.publish(self.topic, payload, qos=self.qos)
        if info.rc != 0:
            self.serial.event("publish_failed", topic=self.topic, rc=int(info.rc))
            return False
        self._seq = seq
        self._record_published(Published(value, when, seq))
        self.serial.println(f"Publish [{self.topic}] value:{value}")
        self.serial.event("published", topic=self.topic, value=value, seq=seq)
        return True

    @property
    def lateness(self) -> list[float]:
        """For each publish (the last 10,000), how late it was against its tick, in s."""
        return list(self._lateness)

    @property
    def skipped(self) -> int:
        """Ticks skipped because the board was stalled or disconnected."""
        return 0 if self._schedule is None else self._schedule.skipped
