"""Publishing the alert state: one long-lived MQTT connection, retained, acknowledged, in order.

Publishes are sent one at a time under a lock, in the order the ordering guard accepted them,
so the broker (which handles one connection's messages in order) always retains the newest
accepted state. Waiting for the acknowledgement happens outside the lock, so concurrent requests
share the round trip to the broker.

A publish that is not acknowledged in time may still sit in paho's outgoing queue, and paho
would send it again after a reconnect, possibly after a newer state. So after any failed
publish the connection is dropped and a fresh client (with an empty queue) takes its place.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

import paho.mqtt.client as mqtt

from services.common.config import MqttSettings
from services.common.deadline import Deadline, wait_until
from services.common.mqtt import make_client
from services.webhook.errors import PublisherNotStarted, PublishError
from services.webhook.payloads import Decision

log = logging.getLogger(__name__)

Outcome = Literal["published", "unchanged", "stale"]


@dataclass(frozen=True)
class PublishResult:
    """What became of one decision; ``seconds`` is the publish-to-acknowledgement time."""

    outcome: Outcome
    value: str | None
    topic: str
    seconds: float = 0.0


class Publisher(Protocol):
    """Where decisions go; the app needs only this (tests use a fake)."""

    topic: str

    @property
    def connected(self) -> bool: ...

    def publish(self, decision: Decision) -> PublishResult: ...


class StateGuard:
    """The last accepted state and how recent it is, so that older notifications cannot undo it."""

    def __init__(self) -> None:
        self.value: str | None = None
        self.time: datetime | None = None

    def is_stale(self, decision: Decision) -> bool:
        """True when ``decision`` would change the state but reports older news than it."""
        return (
            decision.value != self.value
            and decision.event_time is not None
            and self.time is not None
            and decision.event_time < self.time
        )

    def record(self, decision: Decision) -> None:
        changed = decision.value != self.value
        newer = decision.event_time is not None and (
            self.time is None or decision.event_time > self.time
        )
        if changed or newer:
            self.time = decision.event_time
        self.value = decision.value

    def forget(self) -> None:
        self.value = None
        self.time = None


@dataclass(frozen=True)
class ConnectionEvent:
    """A change of the broker connection, as seen by paho's network thread."""

    connected: bool
    reason: str


class MqttPublisher:
    """Publishes ``1``/``0`` retained on ``topic`` over one connection that reconnects by itself."""

    def __init__(
        self,
        settings: MqttSettings,
        topic: str,
        *,
        qos: int = 1,
        timeout: float = 5.0,
        client_id: str = "alertloop-webhook",
        reconnect_delay: tuple[int, int] = (1, 4),
    ) -> None:
        self.settings = settings
        self.topic = topic
        self.qos = qos
        self.timeout = timeout
        self.client_id = client_id
        self.reconnect_delay = reconnect_delay
        self.guard = StateGuard()
        self._lock = threading.Lock()
        self._connected = threading.Event()
        self._client: mqtt.Client | None = None
        self.last_event: ConnectionEvent | None = None

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> MqttPublisher:
        """Start connecting in the background (the broker may come later); returns self."""
        with self._lock:
            if self._client is None:
                self._client = self._new_client()
        return self

    def stop(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            self._drop(client)

    def __enter__(self) -> MqttPublisher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def wait_connected(self, timeout: float) -> None:
        """Raises TimeoutExpired when the broker does not accept the connection in time."""
        wait_until(
            lambda: self.connected,
            timeout,
            what=f"the webhook's MQTT connection to {self.settings.safe_url}",
            state=lambda: self.last_event,
            hint="is the broker running, and are the credentials right?",
        )

    def _new_client(self) -> mqtt.Client:
        client = make_client(self.settings, self.client_id, reconnect_delay=self.reconnect_delay)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.connect_async(self.settings.host, self.settings.port, keepalive=30)
        client.loop_start()
        return client

    def _drop(self, client: mqtt.Client) -> None:
        self._connected.clear()
        client.on_connect = None
        client.on_disconnect = None
        client.disconnect()
        client.loop_stop()

    # -- paho callbacks (network thread: record and return) ----------------------------
    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        ok = not reason.is_failure
        self.last_event = ConnectionEvent(ok, str(reason))
        if ok:
            self._connected.set()
        log.info("mqtt connect", extra={"broker": self.settings.safe_url, "reason": str(reason)})

    def _on_disconnect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        self._connected.clear()
        self.last_event = ConnectionEvent(False, str(reason))
        log.warning("mqtt disconnected", extra={"broker": self.settings.safe_url, "reason": str(reason)})  # fmt: skip

    # -- publishing --------------------------------------------------------------------
    def publish(self, decision: Decision) -> PublishResult:
        """Publish ``decision.value`` retained and wait for the broker's acknowledgement.

        Returns outcome ``unchanged`` (nothing to publish) or ``stale`` (older than the state
        already published) without touching the broker. Raises PublishError when not connected
        or not acknowledged within ``timeout`` (PublisherNotStarted when not started).
        """
        if decision.value is None:
            return PublishResult("unchanged", None, self.topic)
        deadline = Deadline(self.timeout)
        if not self._lock.acquire(timeout=self.timeout):
            raise PublishError(f"publisher busy for {self.timeout:.1f} s")
        try:
            client = self._client
            if client is None:
                raise PublisherNotStarted("the MQTT publisher is not started")
            if self.guard.is_stale(decision):
                return PublishResult("stale", self.guard.value, self.topic)
            if not self._connected.is_set():
                raise PublishError(f"not connected to the broker {self.settings.safe_url}")
            started = time.perf_counter()
            info = client.publish(self.topic, decision.value, qos=self.qos, retain=True)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                self._reset(client)
                raise PublishError(f"publish refused: {mqtt.error_string(info.rc)}")
            self.guard.record(decision)
        finally:
            self._lock.release()
        try:
            info.wait_for_publish(deadline.remaining)
        except (RuntimeError, ValueError) as exc:
            self._fail(client)
            raise PublishError(f"publish failed: {exc}") from exc
        if not info.is_published():
            self._fail(client)
            raise PublishError(
                f"no acknowledgement from {self.settings.safe_url} within {self.timeout:.1f} s"
            )
        return PublishResult("published", decision.value, self.topic, time.perf_counter() - started)

    def _fail(self, client: mqtt.Client) -> None:
        with self._lock:
            if self._client is client:
                self._reset(client)

    def _reset(self, client: mqtt.Client) -> None:
        """Replace ``client`` (lock held): its queue may hold a publish that must never be resent."""
        log.warning("dropping the MQTT connection after a failed publish")
        self.guard.forget()
        self._drop(client)
        self._client = self._new_client()
