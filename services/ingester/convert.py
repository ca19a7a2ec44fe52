"""From received MQTT messages to line-protocol bytes and dead letters (no I/O, one thread)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from alertloop.services.ingester.deadletter import DeadLetter
from alertloop.services.ingester.errors import EncodeError, PayloadRejected
from alertloop.services.ingester.lineprotocol import LineEncoder, SeriesClock
from alertloop.services.ingester.payload import REASONS, PayloadRules, parse_payload
from alertloop.services.ingester.topics import TopicRouter

__all__ = ["DEAD_LETTER_REASONS", "Converted", "Converter", "Received"]

#: Every reason a record can carry in the dead-letter store.
DEAD_LETTER_REASONS = (*REASONS, "bad_topic", "influx_rejected")


@dataclass(frozen=True, slots=True)
class Received:
    """One MQTT message as decoded from a PUBLISH; ``session`` numbers the connection."""

    topic: str
    payload: bytes
    qos: int
    mid: int
    time_ns: int
    session: int = 0


@dataclass(slots=True)
class Converted:
    """The result of converting a run of messages."""

    data: bytes = b""
    lines: int = 0
    letters: list[DeadLetter] = field(default_factory=list)


class Converter:
    """Parses payloads, finds tags, stamps times and encodes lines.

    Points without a device ``ts`` get their receive time, kept strictly increasing per series;
    a device ``ts`` is kept as sent, so a replayed message overwrites its own point.
    """

    def __init__(
        self,
        router: TopicRouter,
        encoder: LineEncoder,
        rules: PayloadRules,
        clock: SeriesClock | None = None,
    ) -> None:
        self.router = router
        self.encoder = encoder
        self.rules = rules
        self.clock = clock or SeriesClock()

    def convert(self, messages: Sequence[Received]) -> Converted:
        """Convert ``messages``; never raises for a bad payload or topic (those become letters)."""
        lines: list[str] = []
        letters: list[DeadLetter] = []
        rules, line, stamp, tags_for = (
            self.rules,
            self.encoder.line,
            self.clock.stamp,
            self.router.tags_for,
        )
        for message in messages:
            try:
                reading = parse_payload(message.payload, rules, message.time_ns)
                tags = tags_for(message.topic)
                if tags is None:
                    raise EncodeError(f"topic {message.topic!r} matches no configured template")
                ts = reading.ts_ns if reading.ts_ns is not None else stamp(tags, message.time_ns)
                lines.append(line(tags, reading.value, ts))
            except PayloadRejected as exc:
                letters.append(self._letter(message, exc.reason, exc.detail))
            except EncodeError as exc:
                letters.append(self._letter(message, "bad_topic", str(exc)))
        return Converted("".join(lines).encode("utf-8"), len(lines), letters)

    @staticmethod
    def _letter(message: Received, reason: str, detail: str) -> DeadLetter:
        return DeadLetter(message.topic, message.payload, reason, detail, message.time_ns)
