"""MqttCapture: a subscriber that records every message and waits for the ones a test expects."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from types import TracebackType

import paho.mqtt.client as mqtt
from paho.mqtt.subscribeoptions import SubscribeOptions

from alertloop.services.common.config import MqttSettings
from alertloop.services.common.deadline import Deadline
from alertloop.services.common.errors import AlertloopError, TimeoutExpired
from alertloop.services.common.mqtt import make_client, new_client_id


class CaptureError(AlertloopError):
    """The capture could not connect, subscribe or publish, or saw a message it must not."""


@dataclass(frozen=True)
class CapturedMessage:
    """One message as the broker delivered it; ``time`` is ``time.monotonic()`` at arrival."""

    topic: str
    payload: bytes
    qos: int
    retain: bool
    time: float

    @property
    def text(self) -> str:
        return self.payload.decode("utf-8", errors="replace")


class MqttCapture:
    """Records messages on the filters it subscribes to (MQTT 5, retain-as-published).

    Because the retain flag is kept as published, ``close(clear_retained=True)`` knows which
    topics hold a retained message and clears them, so tests do not leak into each other.
    """

    def __init__(self, settings: MqttSettings, client_id: str | None = None, timeout: float = 5.0):
        self.settings = settings
        self.timeout = timeout
        self.messages: list[CapturedMessage] = []
        self._cond = threading.Condition()
        self._retained_topics: set[str] = set()
        self._connected = threading.Event()
        self._pending_subs: dict[int, threading.Event] = {}
        self._sub_lock = threading.Lock()  # a SUBACK may arrive before subscribe() returns
        self._client = make_client(
            settings, client_id or new_client_id("alertloop-capture"), protocol=mqtt.MQTTv5
        )
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        self._client.on_subscribe = self._on_subscribe
        self._filters: list[tuple[str, int]] = []

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> MqttCapture:
        """Connect and wait for the CONNACK. Raises CaptureError when the broker is unreachable."""
        try:
            self._client.connect(self.settings.host, self.settings.port, keepalive=30)
        except OSError as exc:
            raise CaptureError(f"cannot connect to {self.settings.safe_url}: {exc}") from exc
        self._client.loop_start()
        if not self._connected.wait(self.timeout):
            self.close(clear_retained=False)
            raise CaptureError(f"no CONNACK from {self.settings.safe_url} within {self.timeout} s")
        return self

    def close(self, clear_retained: bool = True) -> None:
        """Clear the retained messages seen (unless told not to), then disconnect."""
        if clear_retained and self._connected.is_set():
            for topic in sorted(self._retained_topics):
                info = self._client.publish(topic, b"", qos=1, retain=True)
                info.wait_for_publish(self.timeout)
        self._client.disconnect()
        self._client.loop_stop()

    def __enter__(self) -> MqttCapture:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- paho callbacks (network thread: record and return) --------------------------------
    def _on_connect(self, client, userdata, flags, reason_code, properties=None) -> None:  # type: ignore[no-untyped-def]
        if reason_code.is_failure:
            return
        for topic_filter, qos in self._filters:  # resubscribe after a reconnect
            client.subscribe(
                topic_filter, options=SubscribeOptions(qos=qos, retainAsPublished=True)
            )
        self._connected.set()

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties=None) -> None:  # type: ignore[no-untyped-def]
        with self._sub_lock:
            event = self._pending_subs.pop(mid, None)
        if event is not None:
            event.set()

    def _on_message(self, client, userdata, msg) -> None:  # type: ignore[no-untyped-def]
        captured = CapturedMessage(
            msg.topic, bytes(msg.payload), msg.qos, bool(msg.retain), time.monotonic()
        )
        with self._cond:
            if captured.retain and captured.payload:
                self._retained_topics.add(captured.topic)
            elif captured.retain:
                self._retained_topics.discard(captured.topic)
            self.messages.append(captured)
            self._cond.notify_all()

    # -- what tests use --------------------------------------------------------------------
    def subscribe(self, topic_filter: str, qos: int = 1) -> MqttCapture:
        """Subscribe and wait for the SUBACK, so no message published after this is missed."""
        event = threading.Event()
        with self._sub_lock:
            result, mid = self._client.subscribe(
                topic_filter, options=SubscribeOptions(qos=qos, retainAsPublished=True)
            )
            if result != mqtt.MQTT_ERR_SUCCESS or mid is None:
                raise CaptureError(
                    f"subscribe to {topic_filter!r} failed: {mqtt.error_string(result)}"
                )
            self._pending_subs[mid] = event
        self._filters.append((topic_filter, qos))
        if not event.wait(self.timeout):
            raise CaptureError(f"no SUBACK for {topic_filter!r} within {self.timeout} s")
        return self

    def publish(self, topic: str, payload: bytes | str, qos: int = 1, retain: bool = False) -> None:
        """Publish and wait until the broker acknowledged it (QoS >= 1)."""
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        info.wait_for_publish(self.timeout)
        if not info.is_published():
            raise CaptureError(f"publish to {topic!r} not acknowledged within {self.timeout} s")
        if retain:
            with self._cond:
                (self._retained_topics.add if payload else self._retained_topics.discard)(topic)

    def on(self, topic: str) -> list[CapturedMessage]:
        """Messages received so far whose topic matches ``topic`` (a topic or a filter)."""
        with self._cond:
            return [m for m in self.messages if mqtt.topic_matches_sub(topic, m.topic)]

    def wait_for(self, topic: str, predicate=None, timeout: float | None = None) -> CapturedMessage:  # type: ignore[no-untyped-def]
        """The first message on ``topic`` (topic or filter) for which ``predicate`` holds.

        Looks at messages already received too. Raises TimeoutExpired listing what did arrive.
        """
        limit = self.timeout if timeout is None else timeout
        deadline = Deadline(limit)
        with self._cond:
            while True:
                for message in self.messages:
                    if mqtt.topic_matches_sub(topic, message.topic) and (
                        predicate is None or predicate(message)
                    ):
                        return message
                if deadline.expired:
                    seen = [(m.topic, m.payload[:40], m.retain) for m in self.messages[-10:]]
                    raise TimeoutExpired(
                        f"no message on {topic!r} matching the predicate within {limit:.1f} s; "
                        f"last messages seen (topic, payload, retain): {seen}; "
                        f"subscribed to {[f for f, _ in self._filters]}"
                    )
                self._cond.wait(deadline.remaining)

    def assert_no_message(self, topic: str, within: float = 1.0) -> None:
        """Raise CaptureError if a message arrives on ``topic`` during the next ``within`` s."""
        start = len(self.messages)
        deadline = Deadline(within)
        with self._cond:
            while not deadline.expired:
                self._cond.wait(deadline.remaining)
                late = [m for m in self.messages[start:] if mqtt.topic_matches_sub(topic, m.topic)]
                if late:
                    raise CaptureError(f"unexpected message on {topic!r}: {late[0]}")
