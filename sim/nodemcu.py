"""A simulated NodeMCU running the seed's LED sketch: subscribes to ``/alert`` and lights red
on ``1`` and green on ``0`` (see ``alertloop.sim.leds`` for the exact rules and ``seed_compat``)."""

from __future__ import annotations

import time
from collections.abc import Callable

from alertloop.services.common.config import MqttSettings
from alertloop.services.common.mqtt import new_client_id
from alertloop.sim.board import MqttMessage, SimMqttBoard
from alertloop.sim.board_api.protocol import LedState
from alertloop.sim.board_api.recording import IndicatorRecorder
from alertloop.sim.leds import decide_leds
from alertloop.sim.serial_log import SerialLog

__all__ = ["SimNodeMcu"]


class SimNodeMcu(SimMqttBoard, IndicatorRecorder):
    """The LED board. Implements ``alertloop.hil.boards.IndicatorBoard``.

    ``seed_compat=True`` reproduces the seed exactly (an unparseable payload reads as 0 and
    shows green); by default such a payload leaves both LEDs off in the ``error`` state and
    the serial console says why. Subscribes again after every reconnection, so the retained
    message brings the current state at once.
    """

    name = "nodemcu"

    def __init__(
        self,
        mqtt: MqttSettings,
        topic: str = "/alert",
        client_id: str | None = None,
        seed_compat: bool = False,
        *,
        qos: int = 1,
        reconnect_interval: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        serial: SerialLog | None = None,
    ) -> None:
        if qos not in (0, 1, 2):
            raise ValueError(f"qos must be 0, 1 or 2, got {qos!r}")
        IndicatorRecorder.__init__(self)
        SimMqttBoard.__init__(
            self,
            mqtt,
            client_id or new_client_id("nodemcu"),
            reconnect_interval=reconnect_interval,
            clock=clock,
            serial=serial,
        )
        self.topic = topic
        self.seed_compat = seed_compat
        self.qos = qos
        self._subscribed = False
        self.messages: list[MqttMessage] = []
        self._handled = 0

    @property
    def handled(self) -> int:
        """How many ``/alert`` messages the board has handled (as ``SerialNodeMcu.handled``)."""
        return self._handled

    def _ready(self) -> bool:
        return self._connected and self._subscribed

    def _on_thread_start(self) -> None:
        self._subscribed = False
        self.serial.println("start")
        self._set_leds(LedState(False, False))

    def _on_connected(self) -> None:
        self._subscribed = False
        assert self._client is not None
        self._client.subscribe(self.topic, qos=self.qos)

    def _on_subscribed(self, ok: bool) -> None:
        self._subscribed = ok
        self.serial.event(
            "mqtt", state="subscribed" if ok else "subscribe_refused", topic=self.topic
        )

    def _on_message(self, message: MqttMessage) -> None:
        if len(self.messages) < 10_000:
            self.messages.append(message)
        decision = decide_leds(message.payload, self.seed_compat)
        if decision.reason is None:
            self.serial.println(f"Message arrived [{message.topic}] value:{decision.value}")
        else:
            self.serial.println(f"Message arrived [{message.topic}] ignored: {decision.reason}")
        self._set_leds(decision.state, decision.reason)
        self._handled += 1  # after the LEDs, so a test that saw the count sees them too

    def _set_leds(self, state: LedState, reason: str | None = None) -> None:
        if self._record_led(state):
            fields: dict[str, object] = {
                "state": state.name,
                "red": state.red,
                "green": state.green,
            }
            if reason:
                fields["reason"] = reason
            self.serial.event("led", **fields)
