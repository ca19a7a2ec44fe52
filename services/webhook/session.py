"""A minimal MQTT 5 client session over one socket: connect, publish and wait for the ack, ping.

The packets are encoded and decoded by ``mqtt5`` (a sans-I/O codec); this module only moves
bytes. It does no threading and no reconnecting: whoever holds the session drives it (the
publisher, under its I/O lock), and a session that failed is closed and replaced. A publish
costs one ``sendall`` and one or two ``recv`` calls, with no per-message bookkeeping beyond a
packet identifier, since at most one publish is in flight.
"""

from __future__ import annotations

import socket
import ssl
import struct
import time
from typing import TypeVar

import mqtt5

from services.common.config import MqttSettings
from services.webhook.errors import SessionError, SessionTimeout

_FAILURE = 0x80  # MQTT 5 reason codes from 0x80 on are failures

_READ_SLICE = 0.05  # seconds a blocking read waits before its caller checks the deadline
_SEND_TIMEOUT = 5.0

_Ack = TypeVar("_Ack", mqtt5.PubAckPacket, mqtt5.PubRecPacket, mqtt5.PubCompPacket)


class MqttSession:
    """One connected MQTT 5 session (clean start, no stored session); use ``open``."""

    def __init__(self, sock: socket.socket, keepalive: int, broker: str) -> None:
        self._sock = sock
        # A plain socket stays in blocking mode with kernel timeouts (SO_RCVTIMEO slices, so
        # a wait can check its deadline), so that a send or a read is one system call: each
        # call releases the GIL, and under load every release can cost a thread switch.
        # A TLS socket cannot take recv flags; it uses Python's socket timeouts instead.
        self._plain = not isinstance(sock, ssl.SSLSocket)
        if self._plain:
            sock.settimeout(None)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, _timeval(_READ_SLICE))
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, _timeval(_SEND_TIMEOUT))
        self.keepalive = keepalive
        self.broker = broker
        self._buffer = bytearray()
        self._packet_id = 0
        self._last_sent = time.monotonic()
        self._ping_sent: float | None = None
        self.pongs = 0  # PINGRESPs received
        self.closed = False

    @classmethod
    def open(
        cls,
        settings: MqttSettings,
        client_id: str,
        *,
        keepalive: int = 30,
        timeout: float = 5.0,
        qos: int = 1,
    ) -> MqttSession:
        """Connect, log in and wait for the CONNACK.

        Raises OSError (network, TLS) or SessionError (refused by the broker, or it cannot
        retain messages at ``qos``); SessionTimeout when no CONNACK comes within ``timeout``.
        """
        deadline = time.monotonic() + timeout
        sock = socket.create_connection((settings.host, settings.port), timeout=timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if settings.tls:
                context = ssl.create_default_context()
                sock = context.wrap_socket(sock, server_hostname=settings.host)
            session = cls(sock, keepalive, settings.safe_url)
            session._send(
                mqtt5.ConnectPacket(
                    client_id,
                    username=settings.username,
                    password=settings.password.encode() if settings.password is not None else None,
                    clean_start=True,
                    keep_alive=keepalive,
                ).write()
            )
            ack = session._receive(deadline)
            if not isinstance(ack, mqtt5.ConnAckPacket):
                raise SessionError(f"{settings.safe_url} answered CONNECT with {ack!r}")
            if int(ack.reason_code) >= _FAILURE:
                raise SessionError(
                    f"{settings.safe_url} refused the connection: {_reason(ack.reason_code)}"
                )
            if not ack.retain_available or int(ack.max_qos) < qos:
                raise SessionError(
                    f"{settings.safe_url} cannot retain messages at QoS {qos} "
                    f"(retain {ack.retain_available}, max QoS {int(ack.max_qos)})"
                )
            if ack.server_keep_alive is not None:
                session.keepalive = ack.server_keep_alive
        except BaseException:
            sock.close()
            raise
        return session

    # -- publishing ----------------------------------------------------------------------
    def publish(self, topic: str, payload: bytes, qos: int, timeout: float) -> None:
        """Publish retained at ``qos`` and wait for the broker's acknowledgement (QoS 1: PUBACK,
        QoS 2: PUBREC, PUBREL, PUBCOMP; QoS 0: sent).

        Raises SessionTimeout (no acknowledgement within ``timeout``), SessionError (refused
        by the broker with a failure reason code, or the connection is lost) or OSError.
        """
        deadline = time.monotonic() + timeout
        packet_id = None
        if qos:
            self._packet_id = self._packet_id % 0xFFFF + 1
            packet_id = self._packet_id
        self._send(
            mqtt5.PublishPacket(
                topic, payload, qos=mqtt5.QoS(qos), retain=True, packet_id=packet_id
            ).write()
        )
        if qos == 1:
            self._acknowledged(mqtt5.PubAckPacket, packet_id, deadline)
        elif qos == 2:
            self._acknowledged(mqtt5.PubRecPacket, packet_id, deadline)
            self._send(mqtt5.PubRelPacket(packet_id or 0).write())
            self._acknowledged(mqtt5.PubCompPacket, packet_id, deadline)

    def _acknowledged(self, kind: type[_Ack], packet_id: int | None, deadline: float) -> None:
        while True:
            packet = self._receive(deadline)
            if isinstance(packet, kind) and packet.packet_id == packet_id:
                if int(packet.reason_code) >= _FAILURE:
                    raise SessionError(
                        f"{self.broker} refused the publish: {_reason(packet.reason_code)}"
                    )
                return
            self._other(packet)

    # -- keepalive and disconnect detection ------------------------------------------------
    def service(self) -> None:
        """Read what arrived without waiting and send a PINGREQ when one is due.

        Raises SessionError when the broker closed the connection, sent DISCONNECT or did not
        answer a PINGREQ within the keepalive; OSError on a broken socket.
        """
        while (packet := self._poll()) is not None:
            self._other(packet)
        now = time.monotonic()
        if self._ping_sent is not None and now - self._ping_sent > max(self.keepalive, 1):
            raise SessionError(f"no PINGRESP from {self.broker} within {self.keepalive} s")
        if (
            self.keepalive
            and self._ping_sent is None
            and now - self._last_sent >= self.keepalive / 2
        ):
            self._send(mqtt5.PingReqPacket().write())
            self._ping_sent = now

    def _other(self, packet: mqtt5.Packet) -> None:
        if isinstance(packet, mqtt5.PingRespPacket):
            self._ping_sent = None
            self.pongs += 1
        elif isinstance(packet, mqtt5.DisconnectPacket):
            raise SessionError(f"{self.broker} disconnected: {_reason(packet.reason_code)}")
        # Anything else (a stray ack of an abandoned publish) is of no interest.

    def close(self) -> None:
        """Send DISCONNECT if possible and close the socket; never raises."""
        if self.closed:
            return
        self.closed = True
        try:
            self._sock.settimeout(0.2)
            self._sock.sendall(mqtt5.DisconnectPacket().write())
        except OSError:
            pass
        finally:
            self._sock.close()

    # -- bytes ---------------------------------------------------------------------------
    def _send(self, data: bytes) -> None:
        if not self._plain:
            self._sock.settimeout(_SEND_TIMEOUT)
        self._sock.sendall(data)
        self._last_sent = time.monotonic()

    def _receive(self, deadline: float) -> mqtt5.Packet:
        """The next packet, waiting until ``deadline`` (monotonic).

        Raises SessionTimeout, SessionError (closed, malformed) or OSError.
        """
        while (packet := self._parse()) is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise SessionTimeout(f"no acknowledgement from {self.broker} in time")
            try:
                if self._plain:
                    self._fill()  # returns or fails within one read slice
                else:
                    self._sock.settimeout(remaining)
                    self._fill()
            except (BlockingIOError, TimeoutError):
                continue  # the deadline is checked above
        return packet

    def _poll(self) -> mqtt5.Packet | None:
        """The next packet if a whole one has arrived, without waiting."""
        if (packet := self._parse()) is not None:
            return packet
        try:
            if self._plain:
                self._fill(socket.MSG_DONTWAIT)
            else:
                self._sock.settimeout(0.0)
                self._fill()
        except (BlockingIOError, ssl.SSLWantReadError):
            return None
        return self._parse()

    def _fill(self, flags: int = 0) -> None:
        data = self._sock.recv(4096, flags)
        if not data:
            raise SessionError(f"{self.broker} closed the connection")
        self._buffer += data

    def _parse(self) -> mqtt5.Packet | None:
        """The first whole packet in the buffer, removed from it; None when incomplete."""
        buffer = self._buffer
        if len(buffer) < 2:
            return None
        try:
            with memoryview(buffer) as view:
                packet, size = mqtt5.read(view)
        except IndexError:  # not enough bytes yet
            return None
        except ValueError as exc:
            raise SessionError(f"malformed packet from {self.broker}: {exc}") from None
        del buffer[:size]
        return packet


def _timeval(seconds: float) -> bytes:
    whole = int(seconds)
    return struct.pack("@ll", whole, int((seconds - whole) * 1_000_000))


def _reason(code: int) -> str:
    """``NOT_AUTHORIZED (135)`` for a reason code."""
    name = getattr(code, "name", None)
    return f"{name} ({int(code)})" if name else str(int(code))
