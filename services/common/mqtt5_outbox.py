"""Outgoing QoS 1 publishes of a persistent session: queued, in flight, acknowledged.

At most the broker's Receive Maximum are in flight. After a reconnect the CONNACK's session
present flag decides what happens to those not yet acknowledged (MQTT 5 sections 4.4 and
3.2.2.1.1):

- session present 1: the broker still has the session, so each is sent again with the DUP flag
  and its packet identifier;
- session present 0: the broker has no session (it expired, the broker lost its state, or it
  never had one). Sending them as duplicates would refer to packet identifiers the broker never
  saw in this session, so they go back to the head of the queue and are published again as new
  messages (new identifiers, DUP 0): delivered at least once, never lost.

Not thread-safe: its owner guards it.
"""

from __future__ import annotations

from collections import deque

import mqtt5

__all__ = ["Outbox"]

_QOS1 = mqtt5.QoS.AT_LEAST_ONCE


class Outbox:
    """Publishes at QoS 1 with ids from ``first_id`` to 65535; keeps at most ``limit`` queued
    (the oldest is dropped and counted in ``dropped`` beyond that)."""

    def __init__(self, limit: int = 10_000, first_id: int = 1) -> None:
        self._limit = limit
        self._first_id = first_id
        self._next_id = first_id - 1
        self._queued: deque[tuple[str, bytes]] = deque()
        self._inflight: dict[int, tuple[str, bytes]] = {}
        self.window = 20  # the broker's Receive Maximum, from its CONNACK
        self.dropped = 0
        self.resent = 0  # sent again with DUP after a reconnect with session present
        self.republished = 0  # published again as new after a reconnect without a session

    def __len__(self) -> int:
        return len(self._queued) + len(self._inflight)

    @property
    def inflight(self) -> int:
        return len(self._inflight)

    def put(self, topic: str, payload: bytes) -> None:
        if len(self._queued) >= self._limit:
            self._queued.popleft()
            self.dropped += 1
        self._queued.append((topic, payload))

    def acked(self, packet_id: int) -> bool:
        """A PUBACK arrived; True when it was for one of ours."""
        return self._inflight.pop(packet_id, None) is not None

    def reconnected(self, session_present: bool, window: int) -> list[bytes]:
        """The packets to send first on a new connection (see the module's docstring)."""
        self.window = max(1, window)
        if session_present:
            self.resent += len(self._inflight)
            return [
                mqtt5.PublishPacket(t, p, qos=_QOS1, packet_id=i, duplicate=True).write()
                for i, (t, p) in self._inflight.items()
            ]
        self.republished += len(self._inflight)
        self._queued.extendleft(reversed(list(self._inflight.values())))
        self._inflight.clear()
        return []

    def sendable(self) -> list[bytes]:
        """New publishes that fit the window, now counted as in flight."""
        out: list[bytes] = []
        while self._queued and len(self._inflight) < self.window:
            topic, payload = self._queued.popleft()
            packet_id = self._new_id()
            self._inflight[packet_id] = (topic, payload)
            out.append(mqtt5.PublishPacket(topic, payload, qos=_QOS1, packet_id=packet_id).write())
        return out

    def _new_id(self) -> int:
        while True:
            self._next_id = self._next_id + 1 if self._next_id < 65535 else self._first_id
            if self._next_id not in self._inflight:
                return self._next_id
