"""One MQTT 5 session over a socket, encoded and decoded by the ``mqtt5`` codec (sans-I/O, Rust).

The network thread connects (TLS for ``mqtts://``), sends CONNECT with a fixed client id,
``clean_start`` false, a session expiry and a Receive Maximum, subscribes, then reads the socket
in 64 KiB chunks and decodes every complete packet of a chunk in one go. The PUBLISH packets of a
chunk are handed to ``on_messages`` as one list of :class:`Received`; that callback must not
block. Nothing is acknowledged here: the service calls :meth:`MqttSession.ack` once the messages
are stored, and the PUBACKs of one call go out in one write. Because the broker honours the
client's Receive Maximum, up to that many messages can wait for a batched acknowledgement.

After a lost connection the thread reconnects with capped, jittered backoff and subscribes
again; acknowledgements for the old connection are dropped (the broker delivers those messages
again). Outgoing QoS 1 publishes (dead letters) stay in flight until acknowledged, are resent
after a reconnect, and respect the broker's Receive Maximum.
"""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence

import mqtt5

from services.common.config import MqttSettings
from services.common.deadline import Deadline
from services.ingester.convert import Received
from services.ingester.errors import MqttError
from services.ingester.writer import Backoff

__all__ = ["MqttSession"]

log = logging.getLogger("alertloop.ingester.mqtt")

_CHUNK = 65536
_SUBSCRIBE_ID = 1  # the SUBSCRIBE packet id; publishes use 2..65535
_MAX_OUTGOING = 10_000  # publishes queued while the broker is away; older ones are dropped


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
    ) -> None:
        self.settings = settings
        self.client_id = client_id
        self.subscriptions = list(subscriptions)
        self.qos = qos
        self.keepalive = keepalive
        self._on_messages = on_messages
        self._session_expiry = session_expiry
        self._receive_maximum = receive_maximum
        self._reconnect = reconnect
        self._connect_timeout = connect_timeout
        self._lock = threading.Lock()
        self._out: list[bytes] = []  # encoded packets for the network thread to send
        self._outgoing: deque[tuple[str, bytes]] = deque()  # publishes not yet sent
        self._inflight: dict[int, tuple[str, bytes]] = {}  # sent, not yet acknowledged
        self._next_id = _SUBSCRIBE_ID
        self._server_receive_max = 20
        self._session = 0
        self._live = False  # the socket of connection ``_session`` is open
        self._connected = False
        self._stop = threading.Event()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._woken = False
        self._thread: threading.Thread | None = None
        self.dropped_publishes = 0

    # -- used by the service --------------------------------------------------------------
    @property
    def connected(self) -> bool:
        """Connected and subscribed."""
        return self._connected

    @property
    def session(self) -> int:
        """Number of the current connection (1 for the first)."""
        return self._session

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
        """Publish at QoS 1 (sent when connected, resent after a reconnect until acknowledged)."""
        with self._lock:
            if len(self._outgoing) >= _MAX_OUTGOING:
                self._outgoing.popleft()
                self.dropped_publishes += 1
            self._outgoing.append((topic, payload))
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
            sock: socket.socket | None = None
            try:
                sock, buf = self._open()
                backoff.reset()
                self._serve(sock, buf)
            except (OSError, MqttError) as exc:
                if not self._stop.is_set():
                    log.warning("MQTT connection lost; reconnecting", extra={"error": str(exc)})
            except Exception:  # a bug must not end the thread: log it and reconnect
                log.exception("unexpected error in the MQTT network thread; reconnecting")
            finally:
                self._connected = False
                with self._lock:
                    self._live = False
                    self._out.clear()  # acknowledgements for a closed connection mean nothing
                if sock is not None:
                    sock.close()
            if not self._stop.is_set():
                self._stop.wait(backoff.next_delay())

    def _open(self) -> tuple[socket.socket, bytearray]:
        """Connect, log in and subscribe. Raises OSError, MqttError (refused, bad answer)."""
        host, port = self.settings.host, self.settings.port
        sock = socket.create_connection((host, port), timeout=self._connect_timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.settings.tls:
                sock = ssl.create_default_context().wrap_socket(sock, server_hostname=host)
            password = self.settings.password
            sock.sendall(
                mqtt5.ConnectPacket(
                    self.client_id,
                    username=self.settings.username or None,
                    password=password.encode() if password is not None else None,
                    clean_start=False,
                    keep_alive=self.keepalive,
                    session_expiry_interval=self._session_expiry,
                    receive_max=self._receive_maximum,
                ).write()
            )
            buf = bytearray()
            connack = self._read_one(sock, buf)
            if not isinstance(connack, mqtt5.ConnAckPacket):
                raise MqttError(f"expected CONNACK, got {type(connack).__name__}")
            if connack.reason_code != mqtt5.ConnAckReasonCode.SUCCESS:
                raise MqttError(f"broker refused the connection: {connack.reason_code.name}")
            if connack.server_keep_alive:
                self.keepalive = connack.server_keep_alive
            self._server_receive_max = connack.receive_max
            filters = [
                mqtt5.TopicFilter(sub, max_qos=mqtt5.QoS(self.qos)) for sub in self.subscriptions
            ]
            with self._lock:
                self._session += 1
                self._live = True
                self._out.clear()
                resend = [
                    mqtt5.PublishPacket(
                        t, p, qos=mqtt5.QoS.AT_LEAST_ONCE, packet_id=i, duplicate=True
                    ).write()
                    for i, (t, p) in self._inflight.items()
                ]
            sock.sendall(b"".join([*resend, mqtt5.SubscribePacket(_SUBSCRIBE_ID, filters).write()]))
            log.info("connected to the broker", extra={"session_present": connack.session_present})
        except BaseException:
            sock.close()
            raise
        return sock, buf

    def _read_one(self, sock: socket.socket, buf: bytearray) -> mqtt5.Packet:
        """The first packet from the socket (within the connect timeout); the rest stays in buf."""
        while True:
            if buf:
                try:
                    packet, used = mqtt5.read(memoryview(buf))
                except IndexError:
                    pass
                else:
                    del buf[:used]
                    return packet
            chunk = sock.recv(_CHUNK)
            if not chunk:
                raise MqttError("the broker closed the connection during the handshake")
            buf += chunk

    def _serve(self, sock: socket.socket, buf: bytearray) -> None:
        """Exchange packets until the connection fails or stop() is called."""
        sock.settimeout(max(self.keepalive, 1))  # bounds a blocked write; reads wait in select
        tls = isinstance(sock, ssl.SSLSocket)
        last_sent = last_recv = time.monotonic()
        ping_sent: float | None = None
        if buf:
            self._decode(buf)
        while not self._stop.is_set():
            now = time.monotonic()
            quiet = self.keepalive / 2
            wait = max(0.0, min(quiet - (now - last_sent), quiet - (now - last_recv), 1.0))
            readable = select.select([sock, self._wake_r], [], [], wait)[0]
            if self._wake_r in readable:
                with contextlib.suppress(BlockingIOError):
                    self._wake_r.recv(4096)
                self._woken = False  # after draining, so that no wake-up is lost
            if self._send_queued(sock):
                last_sent = time.monotonic()
            if sock in readable:
                chunk = sock.recv(_CHUNK)
                if not chunk:
                    raise MqttError("the broker closed the connection")
                buf += chunk
                while tls and sock.pending():  # type: ignore[attr-defined]
                    buf += sock.recv(_CHUNK)
                last_recv = time.monotonic()
                ping_sent = None  # any packet from the broker shows it is alive
                self._decode(buf)
            now = time.monotonic()
            if ping_sent is not None and now - ping_sent > self.keepalive:
                raise MqttError(f"no answer from the broker within {self.keepalive} s")
            if ping_sent is None and (
                now - last_sent >= self.keepalive / 2 or now - last_recv >= self.keepalive / 2
            ):
                sock.sendall(mqtt5.PingReqPacket().write())
                last_sent = ping_sent = now
        self._send_queued(sock)
        sock.sendall(mqtt5.DisconnectPacket().write())

    def _send_queued(self, sock: socket.socket) -> bool:
        """Write queued acknowledgements and publishes in one call. True when anything was sent."""
        with self._lock:
            while self._outgoing and len(self._inflight) < self._server_receive_max:
                topic, payload = self._outgoing.popleft()
                pid = self._new_id()
                self._inflight[pid] = (topic, payload)
                self._out.append(
                    mqtt5.PublishPacket(
                        topic, payload, qos=mqtt5.QoS.AT_LEAST_ONCE, packet_id=pid
                    ).write()
                )
            if not self._out:
                return False
            data = b"".join(self._out)
            self._out.clear()
        sock.sendall(data)
        return True

    def _new_id(self) -> int:
        while True:
            self._next_id = self._next_id + 1 if self._next_id < 65535 else _SUBSCRIBE_ID + 1
            if self._next_id not in self._inflight:
                return self._next_id

    def _decode(self, buf: bytearray) -> None:
        """Decode every complete packet in ``buf`` (and remove it); hand the messages over.

        Raises MqttError for a malformed packet, a refused subscription or a DISCONNECT.
        """
        read, publish_type = mqtt5.read, mqtt5.PublishPacket
        session, stamp = self._session, time.time_ns()
        messages: list[Received] = []
        view, pos, end = memoryview(buf), 0, len(buf)
        try:
            while pos < end:
                try:
                    packet, used = read(view[pos:])
                except IndexError:  # the rest of the packet has not arrived yet
                    break
                except BaseException as exc:  # the codec raises ValueError, or a panic
                    if isinstance(exc, KeyboardInterrupt | SystemExit):
                        raise
                    raise MqttError(f"malformed packet from the broker: {exc!r}") from exc
                pos += used
                if type(packet) is publish_type:
                    messages.append(
                        Received(
                            packet.topic,
                            packet.payload,
                            int(packet.qos),  # the codec's enums are always true
                            packet.packet_id or 0,
                            stamp,
                            session,
                        )
                    )
                else:
                    self._control(packet)
        finally:
            view.release()
            del buf[:pos]
        if messages:
            self._on_messages(messages)

    def _control(self, packet: mqtt5.Packet) -> None:
        if isinstance(packet, mqtt5.PubAckPacket):
            with self._lock:
                self._inflight.pop(packet.packet_id, None)
            if self._outgoing:
                self._wake()
        elif isinstance(packet, mqtt5.SubAckPacket) and packet.packet_id == _SUBSCRIBE_ID:
            refused = [code.name for code in packet.reason_codes if int(code) >= 0x80]
            if refused:
                raise MqttError(f"broker refused the subscription: {', '.join(refused)}")
            self._connected = True
        elif isinstance(packet, mqtt5.DisconnectPacket):
            raise MqttError(f"the broker disconnected: {packet.reason_code.name}")
