"""The ordering guard: older news of a rule cannot undo newer news of the same rule.

Each notification reports, per counted rule instance (``Decision.rules``), whether it fires and
when (``startsAt`` of a firing alert, ``endsAt`` of a resolved one). The guard keeps the newest
time seen per rule key. A notification that would change the published state is stale when it
reports older news of one of its rules than the guard already has; news of a rule the guard has
not seen, or has only older news of, is never stale, whatever other rules reported.

Times later than the webhook's own clock are clamped to it when they arrive: a ``startsAt`` in
the year 9999 counts as "now", so it cannot make every later notification stale.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime

from alertloop.services.webhook.payloads import Decision

MAX_RULES = 10_000


def utc_now() -> datetime:
    return datetime.now(UTC)


class StateGuard:
    """The last accepted state and, per rule key, the time of the newest news accepted.

    Legacy notifications carry no time: they always apply. Repeats of the current value always
    apply (republishing the same retained value is harmless). The publisher calls ``is_stale``,
    ``record`` and ``forget`` under its own lock.
    """

    def __init__(self, clock: Callable[[], datetime] = utc_now, max_rules: int = MAX_RULES) -> None:
        self.value: str | None = None
        self.clock = clock
        self.max_rules = max_rules
        self._times: OrderedDict[str, datetime] = OrderedDict()

    def is_stale(self, decision: Decision) -> bool:
        """True when ``decision`` would change the state but one of its rules has newer news."""
        if decision.value == self.value:
            return False
        now = self.clock()
        for news in decision.rules:
            known = self._times.get(news.key)
            if news.time is not None and known is not None and min(news.time, now) < known:
                return True
        return False

    def record(self, decision: Decision) -> None:
        """Accept ``decision``: its value becomes the state, its rules' times are kept."""
        now = self.clock()
        for news in decision.rules:
            if news.time is None:
                continue
            when = min(news.time, now)
            known = self._times.get(news.key)
            if known is None or when >= known:
                self._times[news.key] = when
            self._times.move_to_end(news.key)
        while len(self._times) > self.max_rules:
            self._times.popitem(last=False)
        self.value = decision.value

    def time_of(self, key: str) -> datetime | None:
        """The time of the newest accepted news of rule ``key``."""
        return self._times.get(key)

    def forget(self) -> None:
        """After a failed publish nothing is known about the broker's state.

        The rules' times stay: they are Grafana's news, still true; a retry of the failed
        notification carries the same times and is not stale.
        """
        self.value = None
