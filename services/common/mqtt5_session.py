"""One connected MQTT 5 session over one socket, shared by the ingester and the webhook.

The packets are encoded and decoded by ``mqtt5`` (a sans-I/O codec written in Rust); this
module moves bytes and keeps the rules every client of the loop needs: the keepalive, the
broker's DISCONNECT and reason codes, waiting for an acknowledgement with a deadline. It has no
thread and does not reconnect: a service drives it (the ingester's network thread, the
webhook's requests and keeper) and replaces a session that failed. :func:`open_session`
(``alertloop.services.common.mqtt5_connect``) makes one.

Sending is one ``sendall``. A plain socket stays in blocking mode with kernel timeouts
(``SO_RCVTIMEO`` slices, so a wait can check its deadline, and ``SO_SNDTIMEO``), so that a
send or a read is one system call; a TLS socket uses Python's socket timeouts instead.

Keepalive: a PINGREQ goes out after ``keepalive/2`` seconds without sending or without
receiving; a broker that has not answered it within ``keepalive`` is declared gone, so a broker
that stops answering is noticed at most 1.5 x ``keepalive`` after the last packet it sent.
"""

from __future__ import annotations

import socket
import ssl
import struct
import time
from typing import TypeVar

import mqtt5

from alertloop.services.common.mqtt5_errors import (
    FAILURE,
    MqttConnectionLost,
    MqttProtocolError,
    MqttTimeout,
    reason_text,
    refused,
)

__all__ = ["CHUNK", "Mqtt5Session"]

CHUNK = 65536  # bytes asked of the socket per read
_READ_SLICE = 0.05  # seconds a blocking read waits before its caller checks the deadline
_SEND_TIMEOUT = 5.0

_Ack = TypeVar("_Ack", mqtt5.PubAckPacket, mqtt5.PubRecPacket, mqtt5.PubCompPacket)


class Mqtt5Session:
    """A connected MQTT 5 session; ``keepalive`` is the one the broker accepted."""

    def __init__(self, sock: socket.socket, broker: str, keepalive: int = 0) -> None:
        self._sock = sock
        self.broker = broker
        self.keepalive = keepalive
        self.plain = not isinstance(sock, ssl.SSLSocket)
        if self.plain:
            sock.settimeout(None)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, _timeval(_READ_SLICE))
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, _timeval(_SEND_TIMEOUT))
        self.buffer = bytearray()
        self.session_present = False
        self._packet_id = 0
        self._last_sent = self._last_recv = time.monotonic()
        self._ping_sent: float | None = None
        self.pongs = 0  # PINGRESPs received
        self.closed = False

    def fileno(self) -> int:
        return self._sock.fileno()

    # -- bytes out -----------------------------------------------------------------------
    def send(self, data: bytes) -> None:
        """Write ``data`` whole (one system call on a plain socket). Raises OSError."""
        if not self.plain:
            self._sock.settimeout(_SEND_TIMEOUT)
        self._sock.sendall(data)
        self._last_sent = time.monotonic()

    def next_packet_id(self) -> int:
        """1..65535, wrapping (for a caller with at most one of its own in flight)."""
        self._packet_id = self._packet_id % 0xFFFF + 1
        return self._packet_id

    # -- bytes in ------------------------------------------------------------------------
    def fill(self, wait: bool = True) -> bool:
        """Read what the socket has into ``buffer``: with ``wait``, for at most one read slice.

        Returns False when nothing came. Raises MqttConnectionLost when the broker closed the
        connection, OSError on a broken socket.
        """
        sock = self._sock
        try:
            if self.plain:
                data = sock.recv(CHUNK, 0 if wait else socket.MSG_DONTWAIT)
            else:
                sock.settimeout(_READ_SLICE if wait else 0.0)
                data = sock.recv(CHUNK)
        except (BlockingIOError, TimeoutError, ssl.SSLWantReadError):
            return False
        if not data:
            raise MqttConnectionLost(f"{self.broker} closed the connection")
        if not self.plain:
            while sock.pending():  # type: ignore[attr-defined]
                data += sock.recv(CHUNK)
        self.buffer += data
        self.heard()
        return True

    def heard(self) -> None:
        """Bytes came from the broker: it is alive."""
        self._last_recv = time.monotonic()
        self._ping_sent = None

    def next_packet(self) -> mqtt5.Packet | None:
        """The first whole packet in ``buffer``, removed from it; None when incomplete.

        Raises MqttProtocolError for a malformed packet.
        """
        buffer = self.buffer
        if len(buffer) < 2:
            return None
        try:
            with memoryview(buffer) as view:
                packet, size = mqtt5.read(view)
        except IndexError:  # not enough bytes yet
            return None
        except ValueError as exc:
            raise MqttProtocolError(f"malformed packet from {self.broker}: {exc}") from None
        del buffer[:size]
        return packet

    def receive(self, deadline: float) -> mqtt5.Packet:
        """The next packet, waiting until ``deadline`` (monotonic).

        Raises MqttTimeout, MqttConnectionLost, MqttProtocolError or OSError.
        """
        while (packet := self.next_packet()) is None:
            if time.monotonic() >= deadline:
                raise MqttTimeout(f"no answer from {self.broker} in time")
            self.fill()
        return packet

    def poll(self) -> mqtt5.Packet | None:
        """The next packet if a whole one has arrived, without waiting."""
        if (packet := self.next_packet()) is not None:
            return packet
        self.fill(wait=False)
        return self.next_packet()

    def decode_all(self) -> tuple[list[mqtt5.PublishPacket], list[mqtt5.Packet]]:
        """Every whole packet in ``buffer`` (removed from it): the PUBLISH packets and the rest.

        One pass over the buffer for a chunk of many small messages. Raises MqttProtocolError
        for a malformed packet.
        """
        read, publish_type = mqtt5.read, mqtt5.PublishPacket
        publishes: list[mqtt5.PublishPacket] = []
        others: list[mqtt5.Packet] = []
        buffer = self.buffer
        view, pos, end = memoryview(buffer), 0, len(buffer)
        try:
            while pos < end:
                try:
                    packet, used = read(view[pos:])
                except IndexError:  # the rest of the packet has not arrived yet
                    break
                except BaseException as exc:  # the codec raises ValueError, or a panic
                    if isinstance(exc, KeyboardInterrupt | SystemExit):
                        raise
                    raise MqttProtocolError(
                        f"malformed packet from {self.broker}: {exc!r}"
                    ) from exc
                pos += used
                if type(packet) is publish_type:
                    publishes.append(packet)
                else:
                    others.append(packet)
        finally:
            view.release()
            del buffer[:pos]
        return publishes, others

    def handle(self, packet: mqtt5.Packet) -> bool:
        """Apply the session's own rules to a packet: PINGRESP ends a ping, DISCONNECT raises
        MqttConnectionLost with its reason. True when the packet was one of those."""
        if isinstance(packet, mqtt5.PingRespPacket):
            self._ping_sent = None
            self.pongs += 1
            return True
        if isinstance(packet, mqtt5.DisconnectPacket):
            raise MqttConnectionLost(
                f"{self.broker} disconnected: {reason_text(packet.reason_code)}",
                int(packet.reason_code),
            )
        return False

    # -- keepalive -----------------------------------------------------------------------
    def keepalive_tick(self, reading: bool = True) -> float:
        """Send a PINGREQ when one is due; the seconds until the next tick is needed.

        Raises MqttTimeout when a PINGREQ stayed unanswered for ``keepalive`` seconds. With
        ``reading`` false (the caller has stopped reading the socket, so a PINGRESP could not
        be seen) the PINGRESP is not awaited and its clock restarts once reading resumes.
        """
        if not self.keepalive:
            return 1.0
        now = time.monotonic()
        if self._ping_sent is not None:
            if not reading:
                self._ping_sent = now
            elif now - self._ping_sent >= self.keepalive:
                raise MqttTimeout(
                    f"no answer from {self.broker} to a PINGREQ within {self.keepalive} s"
                )
            return max(0.0, self._ping_sent + self.keepalive - now)
        quiet = self.keepalive / 2
        due = min(self._last_sent, self._last_recv) + quiet
        if now >= due:
            self.send(mqtt5.PingReqPacket().write())
            self._ping_sent = now
            return float(self.keepalive)
        return due - now

    # -- publishing with an acknowledgement --------------------------------------------
    def publish_wait(
        self, topic: str, payload: bytes, qos: int, timeout: float, *, retain: bool = False
    ) -> None:
        """Publish and wait for the broker's acknowledgement (QoS 1: PUBACK; QoS 2: PUBREC,
        PUBREL, PUBCOMP; QoS 0: sent). For callers with one publish in flight at a time.

        Raises MqttTimeout (no acknowledgement within ``timeout``), MqttRefused (a failure
        reason code), MqttConnectionLost, MqttProtocolError or OSError.
        """
        deadline = time.monotonic() + timeout
        packet_id = self.next_packet_id() if qos else None
        self.send(
            mqtt5.PublishPacket(
                topic, payload, qos=mqtt5.QoS(qos), retain=retain, packet_id=packet_id
            ).write()
        )
        if qos == 1:
            self._acknowledged(mqtt5.PubAckPacket, packet_id, deadline)
        elif qos == 2:
            self._acknowledged(mqtt5.PubRecPacket, packet_id, deadline)
            self.send(mqtt5.PubRelPacket(packet_id or 0).write())
            self._acknowledged(mqtt5.PubCompPacket, packet_id, deadline)

    def _acknowledged(self, kind: type[_Ack], packet_id: int | None, deadline: float) -> None:
        while True:
            try:
                packet = self.receive(deadline)
            except MqttTimeout:
                raise MqttTimeout(f"no acknowledgement from {self.broker} in time") from None
            if isinstance(packet, kind) and packet.packet_id == packet_id:
                if int(packet.reason_code) >= FAILURE:
                    raise refused(f"{self.broker} refused the publish", packet.reason_code)
                return
            self.handle(packet)  # anything else (a stray ack of an abandoned publish) is dropped

    # -- the end -------------------------------------------------------------------------
    def close(self, reason: int = 0, linger: float = 0.5) -> None:
        """Send DISCONNECT (``reason``) if possible and close the socket; never raises.

        The connection is closed gracefully: our side is shut down for writing and what the
        broker still sends is read and discarded until it closes (at most ``linger`` s).
        Closing a socket with unread data would send a TCP reset, which discards what is
        still in our send buffer: the last acknowledgements and the DISCONNECT.
        """
        if self.closed:
            return
        self.closed = True
        sock = self._sock
        try:
            sock.settimeout(linger)
            packet = mqtt5.DisconnectPacket(reason_code=mqtt5.DisconnectReasonCode(reason))
            sock.sendall(packet.write())
            sock.shutdown(socket.SHUT_WR)
            deadline = time.monotonic() + linger
            while (left := deadline - time.monotonic()) > 0:
                sock.settimeout(left)
                if not sock.recv(CHUNK):
                    break
        except (OSError, ValueError):
            pass
        finally:
            sock.close()

    def abort(self) -> None:
        """Close the socket without a DISCONNECT (the broker then sends any will message)."""
        self.closed = True
        self._sock.close()


def _timeval(seconds: float) -> bytes:
    whole = int(seconds)
    return struct.pack("@ll", whole, int((seconds - whole) * 1_000_000))
