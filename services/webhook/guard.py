"""The ordering guard: a notification older than the accepted state cannot undo it."""

from __future__ import annotations

from datetime import datetime

from services.webhook.payloads import Decision


class StateGuard:
    """The last accepted state and how recent it is (by the notifications' startsAt/endsAt).

    Legacy notifications carry no time: they always apply, and the state they set has no time,
    so the next timed notification applies too. Repeats of the current value always apply
    (republishing the same retained value is harmless).
    """

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
        """After a failed publish nothing is known about the broker's state."""
        self.value = None
        self.time = None
