"""The ingester's MQTT 5 subscription: one network thread on the shared session module.

The thread opens a session (``alertloop.services.common.mqtt5_connect``: TLS for ``mqtts://``, a fixed
client id, ``clean_start`` false, a session expiry and a Receive Maximum), subscribes, then
reads the socket in 64 KiB chunks and decodes every complete packet of a chunk in one go. The
PUBLISH packets of a chunk are handed to ``on_messages`` as one list of :class:`Received`; that
callback must not block. Nothing is acknowledged here: the service calls
:meth:`MqttSession.ack` once the messages are stored, and the PUBACKs of one call go out in one
write. Because the broker honours the client's Receive Maximum, up to that many messages can
wait for a batched acknowledgement.

Flow control: while ``backlog()`` (messages handed over and not yet taken by the pipeline) is
at ``backlog_limit`` or more, the thread stops reading the socket (it still sends
acknowledgements, publishes and PINGREQs) until the backlog is below half the limit. The
broker then keeps the messages: QoS 1 ones within the Receive Maximum, QoS 0 ones in its own
queue, under its own limits. Nothing is dropped here. While reading is paused a PINGRESP cannot
be seen, so it is not awaited (the broker still sees our PINGREQs and acknowledgements).

After a lost connection the thread reconnects with capped, jittered backoff and subscribes
again; acknowledgements for the old connection are dropped (the broker delivers those messages
again if it kept the session). Outgoing QoS 1 publishes (dead letters) follow
``alertloop.services.common.mqtt5_outbox``: resent as duplicates when the broker kept the session,
published again as new messages when it did not.
"""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import threading
import time
from collections.abc import Callable, Sequence

import mqtt5

from alertloop.services.common.config import MqttSettings
from alertloop.services.common.deadline import Deadline
from alertloop.services.common.errors import ConfigError
from alertloop.services.common.mqtt5_connect import Accepted, ConnectOptions, open_session
from alertloop.services.common.mqtt5_errors import FAILURE, MqttSessionError, reason_text
from alertloop.services.common.mqtt5_outbox import Outbox
from alertloop.services.common.mqtt5_session import Mqtt5Session
from alertloop.services.ingester.convert import Received
from alertloop.services.ingester.errors import MqttError
from alertloop.services.ingester.writer import Backoff

__all__ = ["MqttSession"]

log = logging.getLogger(__name__)

_SUBSCRIBE_ID = 1  # the SUBSCRIBE packet id; publishes use 2..65535
_MAX_OUTGOING = 10_000  # publishes queued while the broker is away; older ones are dropped
_PAUSED_POLL = 0.005  # seconds between backlog checks while reading is paused
_PAUSE_LOG_EVERY = 60.0  # seconds between "reading paused" log lines


class MqttSession:
    """A persistent MQTT 5 subscription with acknowledgements under the caller's control."""

    def __init__(
        self,
        settings: MqttSettings,
        client_id: str,
        subscriptions: Sequence[str],
        on_messages: Callable[[list[Received]], None],
        *,
        qos: int = 1,
        keepalive: int = 30,
        session_expiry: int = 7 * 24 * 3600,
        receive_maximum: int = 1000,
        reconnect: tuple[float, float] = (1.0, 30.0),
        connect_timeout: float = 10.0,
        backlog: Callable[[], int] | None = None,
        backlog_limit: int = 10_000,
    ) -> None:
        self.settings = settings
        self.client_id = client_id
        self.subscriptions = list(subscriptions)
        self.qos = qos
        self.keepalive = keepalive
        self._on_messages = on_messages
        self._options = ConnectOptions(
            client_id,
            clean_start=False,
            keepalive=keepalive,
            session_expiry=session_expiry,
            receive_maximum=receive_maximum,
            timeout=connect_timeout,
        )
        self._reconnect = reconnect
        self._backlog = backlog
        self._backlog_limit = backlog_limit
        self._lock = threading.Lock()
        self._out: list[bytes] = []  # encoded acknowledgements for the network thread to send
        self._outbox = Outbox(_MAX_OUTGOING, first_id=_SUBSCRIBE_ID + 1)
        self._session = 0
        self._live = False  # the socket of connection ``_session`` is open
        self._connected = False
        self._stop = threading.Event()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._woken = False
        self._thread: threading.Thread | None = None
        self.session_present = False  # of the current connection
        self.sessions_lost = 0  # reconnects where the broker no longer had our session
        self.paused = False  # reading stopped because the pipeline is behind
        self.pauses = 0
        self._paused_total = 0.0
        self._paused_since = 0.0
        self._pause_logged = -_PAUSE_LOG_EVERY  # monotonic time of the last "paused" line

    # -- used by the service --------------------------------------------------------------
    @property
    def connected(self) -> bool:
        """Connected and subscribed."""
        return self._connected

    @property
    def session(self) -> int:
        """Number of the current connection (1 for the first)."""
        return self._session

    @property
    def dropped_publishes(self) -> int:
        """Outgoing publishes dropped because too many waited for the broker."""
        return self._outbox.dropped

    @property
    def paused_seconds(self) -> float:
        """Seconds reading has been paused in total, the current pause included."""
        current = time.monotonic() - self._paused_since if self.paused else 0.0
        return self._paused_total + current

    def start(self) -> MqttSession:
        """Start the network thread; it connects in the background and retries until stopped."""
        self._thread = threading.Thread(target=self._run, name="ingester-mqtt", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Send what is queued, disconnect (the broker keeps the session), end the thread."""
        self._stop.set()
        self._wake()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self._wake_r.close()
        self._wake_w.close()

    def ack(self, session: int, packet_ids: Sequence[int]) -> int:
        """Queue PUBACKs for messages of connection ``session``; returns how many were queued
        (none when that connection is gone: the broker delivers those messages again)."""
        if not packet_ids:
            return 0
        data = b"".join([mqtt5.PubAckPacket(pid).write() for pid in packet_ids])
        with self._lock:
            if session != self._session or not self._live:
                return 0
            self._out.append(data)
        self._wake()
        return len(packet_ids)

    def publish(self, topic: str, payload: bytes) -> None:
        """Publish at QoS 1 (sent when connected, kept until acknowledged)."""
        with self._lock:
            self._outbox.put(topic, payload)
        self._wake()

    def flush(self, timeout: float) -> bool:
        """Wait until queued acknowledgements have been written to the socket. False on timeout
        or when the connection is gone."""
        deadline = Deadline(timeout)
        while not deadline.expired:
            with self._lock:
                if not self._out:
                    return self._connected
            self._wake()
            self._stop.wait(0.005)  # a bounded pause between checks of the send queue
        return False

    # -- network thread -------------------------------------------------------------------
    def _wake(self) -> None:
        if self._woken:
            return
        self._woken = True
        # OSError: the buffer is full (a wake-up is pending anyway) or closed (stopping)
        with contextlib.suppress(OSError):
            self._wake_w.send(b"\0")

    def _run(self) -> None:
        low, high = self._reconnect
        backoff = Backoff(low, high)
        while not self._stop.is_set():
            session: Mqtt5Session | None = None
            try:
                session = self._open()
                backoff.reset()
                self._serve(session)
            except (OSError, MqttError, MqttSessionError, ConfigError) as exc:
                if not self._stop.is_set():
                    log.warning("MQTT connection lost; reconnecting", extra={"error": str(exc)})
            except Exception:  # a bug must not end the thread: log it and reconnect
                log.exception("unexpected error in the MQTT network thread; reconnecting")
            finally:
                self._connected = False
                self._set_paused(False)
                with self._lock:
                    self._live = False
                    self._out.clear()  # acknowledgements for a closed connection mean nothing
                if session is not None:
                    session.abort()
            if not self._stop.is_set():
                self._stop.wait(backoff.next_delay())

    def _open(self) -> Mqtt5Session:
        """Connect, log in and subscribe. Raises OSError, MqttSessionError, ConfigError."""
        session, accepted = open_session(self.settings, self._options)
        try:
            self.keepalive = accepted.keepalive
            self._session_state(accepted)
            filters = [
                mqtt5.TopicFilter(sub, max_qos=mqtt5.QoS(self.qos)) for sub in self.subscriptions
            ]
            with self._lock:
                self._session += 1
                self._live = True
                self._out.clear()
                first = self._outbox.reconnected(accepted.session_present, accepted.receive_maximum)
            session.send(b"".join([*first, mqtt5.SubscribePacket(_SUBSCRIBE_ID, filters).write()]))
        except BaseException:
            session.abort()
            raise
        return session

    def _session_state(self, accepted: Accepted) -> None:
        """Log what the broker kept of the session (MQTT 5 session present)."""
        before = self._session
        self.session_present = accepted.session_present
        if accepted.session_present:
            log.info("connected to the broker; it kept our session", extra={"session_present": 1})
        elif before:
            self.sessions_lost += 1
            log.warning(
                "connected to the broker, which no longer had our session: messages published "
                "while we were away were not kept for us (session expired, or the broker lost "
                "its state); unacknowledged dead letters are published again",
                extra={"session_present": 0},
            )
        else:
            log.info(
                "connected to the broker with a new session (first start, or the previous one "
                "expired)",
                extra={"session_present": 0},
            )

    def _serve(self, session: Mqtt5Session) -> None:
        """Exchange packets until the connection fails or stop() is called."""
        sock_fd, wake = session.fileno(), self._wake_r.fileno()
        if session.buffer:
            self._decode(session)
        while not self._stop.is_set():
            reading = self._may_read()
            wait = min(session.keepalive_tick(reading), 1.0 if reading else _PAUSED_POLL)
            watched = [sock_fd, wake] if reading else [wake]
            readable = select.select(watched, [], [], wait)[0]
            if wake in readable:
                with contextlib.suppress(BlockingIOError):
                    self._wake_r.recv(4096)
                self._woken = False  # after draining, so that no wake-up is lost
            self._send_queued(session)
            if sock_fd in readable and session.fill(wait=False):
                self._decode(session)
        self._send_queued(session)
        session.close()

    def _may_read(self) -> bool:
        """False while the pipeline's backlog is too long (hysteresis: resume below half)."""
        if self._backlog is None:
            return True
        backlog = self._backlog()
        if self.paused:
            if backlog < self._backlog_limit // 2:
                self._set_paused(False)
        elif backlog >= self._backlog_limit:
            self._set_paused(True)
        return not self.paused

    def _set_paused(self, paused: bool) -> None:
        if paused == self.paused:
            return
        now = time.monotonic()
        if paused:
            self.pauses += 1
            self._paused_since = now
        else:
            self._paused_total += now - self._paused_since
        self.paused = paused
        if paused and now - self._pause_logged >= _PAUSE_LOG_EVERY:
            self._pause_logged = now
            log.info(
                "reading from the broker paused: the pipeline is behind, the broker keeps the "
                "messages meanwhile (logged at most once a minute)",
                extra={"pauses": self.pauses, "paused_seconds": round(self._paused_total, 3)},
            )

    def _send_queued(self, session: Mqtt5Session) -> None:
        """Write queued acknowledgements and publishes in one call."""
        with self._lock:
            out = self._out
            out.extend(self._outbox.sendable())
            if not out:
                return
            data = b"".join(out)
            out.clear()
        session.send(data)

    def _decode(self, session: Mqtt5Session) -> None:
        """Hand over the messages of every complete packet received; apply the others.

        Raises MqttSessionError for a malformed packet or a DISCONNECT, MqttError for a
        refused subscription.
        """
        publishes, others = session.decode_all()
        for packet in others:
            self._control(session, packet)
        if publishes:
            number, stamp = self._session, time.time_ns()
            self._on_messages(
                [
                    # the codec's enums are always true: int() for the QoS
                    Received(p.topic, p.payload, int(p.qos), p.packet_id or 0, stamp, number)
                    for p in publishes
                ]
            )

    def _control(self, session: Mqtt5Session, packet: mqtt5.Packet) -> None:
        if isinstance(packet, mqtt5.PubAckPacket):
            with self._lock:
                self._outbox.acked(packet.packet_id)
            if len(self._outbox):
                self._wake()
        elif isinstance(packet, mqtt5.SubAckPacket) and packet.packet_id == _SUBSCRIBE_ID:
            refused = [reason_text(code) for code in packet.reason_codes if int(code) >= FAILURE]
            if refused:
                raise MqttError(f"broker refused the subscription: {', '.join(refused)}")
            self._connected = True
        else:
            session.handle(packet)
