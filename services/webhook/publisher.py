"""Publishing the alert state: one long-lived MQTT connection, retained, acknowledged, in order.

Requests hand their accepted state to the publisher, which keeps one publish in flight at a
time and always sends the newest accepted state. A request is answered once a publish of its
state, or of a newer one accepted after it, has been acknowledged by the broker (group
commit): under concurrent load several requests share one round trip, and the broker can
never retain an older state after a newer one.

The MQTT session (``alertloop.services.webhook.session``, MQTT 5 over a plain or TLS socket) has no
network thread: the request that sends a publish also reads the acknowledgement. Requests
arriving meanwhile wait, each on a lock of its own. When the publish ends, the oldest request
it does not cover is handed the sending role first, then the requests it covers are woken one
after another, each by the one before it: woken all at once, they would all contend for the
GIL with the next sender and with each other.

A keeper thread connects, reconnects with backoff and services the connection (keepalive,
disconnect detection) between requests. Both drive the session under one I/O lock.

A publish that is not confirmed (no acknowledgement in time, a lost connection) is answered
503, and it must not take effect later: the broker may still hold it (a stalled broker reads
it when it wakes). So the last confirmed state is published right behind it on the same
connection, which the broker processes in order, and the publisher accepts nothing until the
broker has acknowledged that state again (on that connection, or first thing on a new one).
The retained state thus always returns to what the clients were last told.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Literal, Protocol

from alertloop.services.common.config import MqttSettings
from alertloop.services.common.deadline import Deadline, wait_until
from alertloop.services.webhook.errors import (
    PublisherNotStarted,
    PublishError,
    SessionError,
    SessionTimeout,
)
from alertloop.services.webhook.guard import StateGuard
from alertloop.services.webhook.payloads import Decision
from alertloop.services.webhook.session import MqttSession

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

    __slots__ = ("covering", "error", "next", "send", "seq", "wake")

    def __init__(self, seq: int) -> None:
        self.seq = seq
        self.wake = threading.Lock()
        self.wake.acquire()
        self.covering = ""  # the value of the publish that covered it
        self.error: str | None = None
        self.send = False  # handed the sending role instead
        self.next: _Waiter | None = None  # covered by the same publish, woken by this one


@dataclass(frozen=True)
class ConnectionEvent:
    """The last change of the broker connection."""

    connected: bool
    reason: str


class MqttPublisher:
    """Publishes ``1``/``0`` retained on ``topic`` over one connection that reconnects by itself.

    ``connected`` is true while publishes are accepted: connected, and no unconfirmed publish
    waiting for the confirmed state to be acknowledged again.
    """

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
        self._io = threading.Lock()  # guards every use of the session and the restore state
        self._accepted = 0  # sequence number of the newest accepted decision
        self._acked = 0  # newest sequence number covered by an acknowledged publish
        self._sending = False  # a request thread holds the sending role
        self._waiters: list[_Waiter] = []  # requests waiting for a publish that covers them
        self._last_logged: str | None = None  # owned by the sending role
        self.publishes = 0  # acknowledged by the broker (fewer than notifications under load)
        self.confirmed: str | None = None  # the value the broker last acknowledged
        self._restore: str | None = None  # to be acknowledged again before anything else
        self._unconfirmed_at = 0.0  # when the last publish went unconfirmed (monotonic)
        self.restores = 0  # confirmed states acknowledged again after an unconfirmed publish
        self._connected = threading.Event()  # publishes are accepted
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

    @property
    def restoring(self) -> str | None:
        """The confirmed state being put back after an unconfirmed publish, if any."""
        return self._restore

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
                if self._session is not None and self._restore is not None:
                    self._confirm_restore()
                    continue
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
            if self._session is not None and self._restore is None:
                try:
                    self._session.service()
                except (SessionError, OSError) as exc:
                    self._lost(str(exc) or type(exc).__name__)

    def _open(self) -> MqttSession:
        """A new connected session (raises OSError or SessionError)."""
        return MqttSession.open(
            self.settings,
            self.client_id,
            keepalive=self.keepalive,
            timeout=self.timeout,
            qos=self.qos,
        )

    def _connect(self) -> bool:
        """One connection attempt with a fresh session; True once the broker accepted it and
        acknowledged the state to restore, if there is one."""
        try:
            session = self._open()
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
            if self._restore is not None and not self._restored(session, self._restore):
                self._drop()
                self.last_event = ConnectionEvent(False, "the restored state was not acknowledged")
                return False
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

    # -- restoring the confirmed state after an unconfirmed publish --------------------------
    def _unconfirmed(self, session: MqttSession, value: str, error: str, timed_out: bool) -> None:
        """``value`` was sent but not acknowledged (``_io`` held): the broker may apply it later.

        After a timeout the connection may still work (a stalled broker): the confirmed state
        is sent right behind it without waiting, so that the broker, processing the connection
        in order, ends with it; its acknowledgement is awaited by the keeper. Otherwise the
        connection is dropped and the confirmed state is published first on the next one.
        Until then no publish is accepted.
        """
        restore = self.confirmed
        if restore is None or restore == value:
            # Nothing confirmed to put back, or the late publish changes nothing.
            if restore is None:
                log.warning(
                    "publish not confirmed, nothing confirmed to restore",
                    extra={"value": value, "error": error},
                )
            self._lost(error)
            return
        self._restore = restore
        self._unconfirmed_at = time.monotonic()
        self._connected.clear()
        queued = False
        if timed_out:
            try:
                # QoS 0 or 1 (a QoS 2 publish would need our PUBREL); the keeper's publish at
                # the configured QoS follows, so the retained message ends with that QoS.
                session.publish(self.topic, restore.encode(), min(self.qos, 1), 0.0)
                queued = True
            except SessionTimeout:
                queued = True  # sent; not waited for
            except (SessionError, OSError) as exc:
                error = f"{error}; then: {exc}"
        log.warning(
            "publish not confirmed, restoring the confirmed state",
            extra={"value": value, "restore": restore, "error": error, "queued": queued},
        )
        if not queued:
            self._lost(error)

    def _confirm_restore(self) -> None:
        """Keeper: wait for the broker to acknowledge the restored state on the current
        connection (each try sends it again, which is harmless); give the connection up when
        it stays silent for the keepalive, and restore on the next one."""
        with self._io:
            session, restore = self._session, self._restore
            if session is None or restore is None:
                return
            if self._restored(session, restore):
                self._connected.set()
                self.last_event = ConnectionEvent(True, "restored")
            elif self._session is not None and (
                time.monotonic() - self._unconfirmed_at > max(self.keepalive, self.timeout)
            ):
                self._lost(f"no acknowledgement from {self.settings.safe_url} for the restore")

    def _restored(self, session: MqttSession, restore: str) -> bool:
        """Publish ``restore`` and wait for the acknowledgement (``_io`` held); True when done.
        A failure other than a timeout drops the connection."""
        try:
            session.publish(self.topic, restore.encode(), self.qos, self.timeout)
        except SessionTimeout:
            return False
        except (SessionError, OSError) as exc:
            self._lost(f"restoring the confirmed state failed: {exc}")
            return False
        self._restore = None
        self.restores += 1
        log.info("retained state restored", extra={"topic": self.topic, "value": restore})
        return True

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
                raise PublishError(self._unavailable_message())
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

    def _unavailable_message(self) -> str:
        if self._restore is not None:
            return (
                f"the broker {self.settings.safe_url} has not confirmed the last publish; "
                f"the confirmed state {self._restore} is being restored"
            )
        return f"not connected to the broker {self.settings.safe_url}"

    def _wait(self, waiter: _Waiter, deadline: Deadline) -> None:
        """Wait until a publish covering ``waiter`` ended, or it is handed the sending role."""
        if not waiter.wake.acquire(timeout=max(deadline.remaining, 0.0)):
            with self._lock:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
                    raise PublishError(self._no_ack_message())
            waiter.wake.acquire()  # covered or handed the role meanwhile: woken soon
        if waiter.next is not None:
            waiter.next.wake.release()

    def _no_ack_message(self) -> str:
        return f"no acknowledgement from {self.settings.safe_url} within {self.timeout:.1f} s"

    def _send_round(self) -> str:
        """Publish the newest accepted value, wait for its ack, hand the sending role to the
        oldest request it does not cover and answer the requests it covers (the caller holds
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
                self.confirmed = value
            else:
                # The session is gone or restoring: every waiting request fails (Grafana
                # sends again), none is sent later.
                self.guard.forget()
                upto = self._accepted
            covered = [w for w in self._waiters if w.seq <= upto]
            self._waiters = [w for w in self._waiters if w.seq > upto]
            heir = self._waiters.pop(0) if self._waiters else None
            self._sending = heir is not None
        if heir is not None:  # first: the next publish is on the path of every request
            heir.send = True
            heir.wake.release()
        if covered:
            for waiter, after in zip(covered, [*covered[1:], None], strict=True):
                waiter.covering, waiter.error, waiter.next = value, error, after
            covered[0].wake.release()  # which wakes the next, and so on
        # Logged after the hand-over, so that the next publish does not wait for the write;
        # ``seq`` orders the lines should two ever be written out of order.
        if error is not None:
            log.warning("publish failed", extra={"error": error, "seq": upto})
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
            return self._no_ack_message()  # nothing was sent
        try:
            session = self._session
            if session is None or not self._connected.is_set():
                return self._unavailable_message()
            try:
                session.publish(self.topic, value.encode(), self.qos, deadline.remaining)
            except SessionTimeout:
                error = self._no_ack_message()
                self._unconfirmed(session, value, error, timed_out=True)
            except (SessionError, OSError) as exc:
                error = f"connection lost: {exc}" if not isinstance(exc, SessionError) else str(exc)
                self._unconfirmed(session, value, error, timed_out=False)
            else:
                return None
            return error
        finally:
            self._io.release()
