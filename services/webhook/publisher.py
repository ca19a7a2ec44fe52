"""Publishing the alert state: one long-lived MQTT connection, retained, acknowledged, in order.

Requests hand their accepted state to the publisher, which keeps one publish in flight at a
time and always sends the newest accepted state. A request is answered once a publish of its
state, or of a newer one accepted after it, has been acknowledged by the broker (group
commit): under concurrent load several requests share one round trip, and the broker can
never retain an older state after a newer one.

The MQTT session (``services.webhook.session``, MQTT 5 over a plain or TLS socket) has no
network thread: the request that sends a publish also reads the acknowledgement. Requests
arriving meanwhile wait, each on a lock of its own; the publish that covers them wakes them,
and the oldest one it does not cover is handed the sending role. A keeper
thread connects, reconnects with backoff and services the connection (keepalive, disconnect
detection) between requests. Both drive the session under one I/O lock. Every (re)connection
is a fresh clean-start session, so a publish that failed (and was answered 503) can never be
sent later, after a newer state.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Literal, Protocol

from services.common.config import MqttSettings
from services.common.deadline import Deadline, wait_until
from services.webhook.errors import PublisherNotStarted, PublishError, SessionError, SessionTimeout
from services.webhook.guard import StateGuard
from services.webhook.payloads import Decision
from services.webhook.session import MqttSession

log = logging.getLogger(__name__)

Outcome = Literal["published", "superseded", "unchanged", "stale"]


@dataclass(frozen=True)
class PublishResult:
    """What became of one decision.

    ``published``: its value was published and acknowledged; ``superseded``: a newer accepted
    value was, in the same round trip; ``unchanged``: nothing to publish; ``stale``: older than
    the state already accepted. ``seconds`` runs from acceptance to the acknowledgement.
    """

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


class _Waiter:
    """A request waiting for a publish that covers its sequence number (woken by ``wake``)."""

    __slots__ = ("covering", "error", "send", "seq", "wake")

    def __init__(self, seq: int) -> None:
        self.seq = seq
        self.wake = threading.Lock()
        self.wake.acquire()
        self.covering = ""  # the value of the publish that covered it
        self.error: str | None = None
        self.send = False  # handed the sending role instead


@dataclass(frozen=True)
class ConnectionEvent:
    """The last change of the broker connection."""

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
        reconnect_delay: tuple[float, float] = (0.25, 4.0),
        keepalive: int = 30,
        service_interval: float = 0.25,
    ) -> None:
        self.settings = settings
        self.topic = topic
        self.qos = qos
        self.timeout = timeout
        self.client_id = client_id
        self.reconnect_delay = reconnect_delay
        self.keepalive = keepalive
        self.service_interval = service_interval
        self.guard = StateGuard()
        self.last_event: ConnectionEvent | None = None
        self._lock = threading.Lock()  # guards the sequence numbers, the waiters and the guard
        self._io = threading.Lock()  # guards every use of the session
        self._accepted = 0  # sequence number of the newest accepted decision
        self._acked = 0  # newest sequence number covered by an acknowledged publish
        self._sending = False  # a request thread holds the sending role
        self._waiters: list[_Waiter] = []  # requests waiting for a publish that covers them
        self._last_logged: str | None = None  # owned by the sending role
        self.publishes = 0  # acknowledged by the broker (fewer than notifications under load)
        self._connected = threading.Event()
        self._stopping = threading.Event()
        self._session: MqttSession | None = None
        self._keeper: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> MqttPublisher:
        """Start connecting in the background (the broker may come later); returns self."""
        if self._keeper is None:
            self._stopping.clear()
            self._keeper = threading.Thread(target=self._keep, name="webhook-mqtt", daemon=True)
            self._keeper.start()
        return self

    def stop(self) -> None:
        keeper, self._keeper = self._keeper, None
        self._stopping.set()
        if keeper is not None:
            keeper.join(10.0)
        with self._io:
            self._drop()

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

    # -- the connection (keeper thread) -------------------------------------------------
    def _keep(self) -> None:
        delay = self.reconnect_delay[0]
        while not self._stopping.is_set():
            try:
                if self._connected.is_set():
                    self._stopping.wait(self.service_interval)
                    self._service()
                    continue
                if self._connect():
                    delay = self.reconnect_delay[0]
                    continue
            except Exception:  # a bug here must not end reconnecting for good
                log.exception("mqtt keeper error")
                with self._io:
                    self._lost("keeper error")
            self._stopping.wait(delay)
            delay = min(delay * 2, self.reconnect_delay[1])

    def _service(self) -> None:
        """Keepalive and disconnect detection between publishes."""
        with self._io:
            if self._session is not None:
                try:
                    self._session.service()
                except (SessionError, OSError) as exc:
                    self._lost(str(exc) or type(exc).__name__)

    def _connect(self) -> bool:
        """One connection attempt with a fresh session; True once the broker accepted it."""
        try:
            session = MqttSession.open(
                self.settings,
                self.client_id,
                keepalive=self.keepalive,
                timeout=self.timeout,
                qos=self.qos,
            )
        except (SessionError, OSError) as exc:
            self.last_event = ConnectionEvent(False, f"connect failed: {exc}")
            log.warning(
                "mqtt connect failed", extra={"broker": self.settings.safe_url, "error": str(exc)}
            )
            return False
        with self._io:
            self._drop()
            if self._stopping.is_set():
                session.close()
                return False
            self._session = session
            self.last_event = ConnectionEvent(True, "Success")
            self._connected.set()
        log.info("mqtt connect", extra={"broker": self.settings.safe_url, "reason": "Success"})
        return True

    def _drop(self) -> None:
        """Forget the current session and close it (``_io`` held)."""
        session, self._session = self._session, None
        self._connected.clear()
        if session is not None:
            session.close()

    def _lost(self, reason: str) -> None:
        """The connection failed (``_io`` held): drop it and say so."""
        self._drop()
        self.last_event = ConnectionEvent(False, reason)
        log.warning("mqtt disconnected", extra={"broker": self.settings.safe_url, "reason": reason})

    # -- publishing --------------------------------------------------------------------
    def publish(self, decision: Decision) -> PublishResult:
        """Publish ``decision.value`` retained and wait for the broker's acknowledgement.

        Returns outcome ``unchanged`` (nothing to publish) or ``stale`` (older than the state
        already accepted) without touching the broker. Raises PublishError when not connected
        or not acknowledged within ``timeout`` (PublisherNotStarted when not started).
        """
        if decision.value is None:
            return PublishResult("unchanged", None, self.topic)
        started = time.perf_counter()
        deadline = Deadline(self.timeout)
        if not self._lock.acquire(timeout=self.timeout):
            raise PublishError(f"publisher busy for {self.timeout:.1f} s")
        try:
            if self._keeper is None:
                raise PublisherNotStarted("the MQTT publisher is not started")
            if self.guard.is_stale(decision):
                return PublishResult("stale", self.guard.value, self.topic)
            if not self._connected.is_set():
                raise PublishError(f"not connected to the broker {self.settings.safe_url}")
            self.guard.record(decision)
            self._accepted += 1
            waiter = None
            if self._sending:
                waiter = _Waiter(self._accepted)
                self._waiters.append(waiter)
            else:
                self._sending = True
        finally:
            self._lock.release()
        if waiter is not None:
            self._wait(waiter, deadline)
            if waiter.error is not None:
                raise PublishError(waiter.error)
            covering = waiter.covering
        if waiter is None or waiter.send:
            covering = self._send_round()
        outcome: Outcome = "published" if covering == decision.value else "superseded"
        return PublishResult(outcome, decision.value, self.topic, time.perf_counter() - started)

    def _wait(self, waiter: _Waiter, deadline: Deadline) -> None:
        """Wait until a publish covering ``waiter`` ended, or it is handed the sending role."""
        if waiter.wake.acquire(timeout=max(deadline.remaining, 0.0)):
            return
        with self._lock:
            if waiter in self._waiters:
                self._waiters.remove(waiter)
                raise PublishError(self._no_ack_message())
        waiter.wake.acquire()  # taken off the list in the meantime: released at once

    def _no_ack_message(self) -> str:
        return f"no acknowledgement from {self.settings.safe_url} within {self.timeout:.1f} s"

    def _send_round(self) -> str:
        """Publish the newest accepted value, wait for its ack, answer the requests it covers
        and hand the sending role to the oldest request it does not cover (the caller holds
        the role). Returns the published value; raises PublishError when it failed.
        """
        with self._lock:
            value, upto = self.guard.value or "", self._accepted
        error = self._publish_and_wait(value, Deadline(self.timeout))
        changed = error is None and value != self._last_logged
        self._last_logged = value if error is None else None
        with self._lock:
            covers = upto - self._acked
            if error is None:
                self._acked = max(self._acked, upto)
                self.publishes += 1
            else:
                # Nothing is known about the broker's state any more, and the session is
                # gone: every waiting request fails (Grafana retries), none is sent later.
                self.guard.forget()
                upto = self._accepted
            covered = [w for w in self._waiters if w.seq <= upto]
            self._waiters = [w for w in self._waiters if w.seq > upto]
            heir = self._waiters.pop(0) if self._waiters else None
            self._sending = heir is not None
        for waiter in covered:
            waiter.covering, waiter.error = value, error
            waiter.wake.release()
        if heir is not None:
            heir.send = True
            heir.wake.release()
        # Logged after the hand-over, so that the next publish does not wait for the write;
        # ``seq`` orders the lines should two ever be written out of order.
        if error is not None:
            log.warning(
                "publish failed, dropping the connection", extra={"error": error, "seq": upto}
            )
            raise PublishError(error)
        if changed:
            log.info(
                "state published",
                extra={"topic": self.topic, "value": value, "notifications": covers, "seq": upto},
            )
        return value

    def _publish_and_wait(self, value: str, deadline: Deadline) -> str | None:
        """Send and wait for the acknowledgement; the error text, or None on success."""
        if not self._io.acquire(timeout=deadline.remaining):
            return self._no_ack_message()
        try:
            session = self._session
            if session is None or not self._connected.is_set():
                return f"not connected to the broker {self.settings.safe_url}"
            try:
                session.publish(self.topic, value.encode(), self.qos, deadline.remaining)
            except SessionTimeout:
                error = self._no_ack_message()
            except (SessionError, OSError) as exc:
                error = f"connection lost: {exc}" if not isinstance(exc, SessionError) else str(exc)
            else:
                return None
            self._lost(error)
            return error
        finally:
            self._io.release()
