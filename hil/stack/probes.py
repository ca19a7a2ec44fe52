"""Readiness probes: a real MQTT CONNECT/CONNACK and an InfluxDB ``/ping``; free local ports."""

from __future__ import annotations

import socket
import struct
import urllib.request


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _utf8(text: str) -> bytes:
    data = text.encode()
    return struct.pack("!H", len(data)) + data


def _remaining_length(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def mqtt_connect_ok(
    host: str,
    port: int,
    username: str | None = None,
    password: str | None = None,
    timeout: float = 1.0,
) -> bool:
    """True when the broker answers an MQTT 3.1.1 CONNECT with an accepting CONNACK."""
    flags = 0x02  # clean session
    payload = _utf8("alertloop-probe")
    if username:
        flags |= 0x80
        payload += _utf8(username)
        if password:
            flags |= 0x40
            payload += _utf8(password)
    variable = _utf8("MQTT") + bytes([4, flags]) + struct.pack("!H", 10)
    body = variable + payload
    packet = b"\x10" + _remaining_length(len(body)) + body
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(packet)
        reply = b""
        while len(reply) < 4:
            chunk = sock.recv(4 - len(reply))
            if not chunk:
                return False
            reply += chunk
        sock.sendall(b"\xe0\x00")  # DISCONNECT
    return reply[0] == 0x20 and reply[3] == 0


def influx_ping_ok(url: str, timeout: float = 1.0) -> bool:
    """True when ``GET {url}/ping`` answers 204."""
    try:
        with urllib.request.urlopen(f"{url}/ping", timeout=timeout) as resp:  # noqa: S310
            return resp.status == 204
    except OSError:
        return False
