"""Grafana's embedded Alertmanager in miniature: alert store, aggregation groups, flush ticks.

Alerts are merged by fingerprint (the earliest ``starts_at`` wins while they overlap), routed
through the policy tree and kept in aggregation groups. A new group is flushed ``group_wait``
after it was created (at once for an alert older than that), then on every ``group_interval``
tick. A tick notifies only when the group's firing alerts are not all already notified, when
alerts were resolved since the last notification (if resolved messages are on), or when
``repeat_interval`` has passed (Alertmanager's ``DedupStage``). A failed notification is not
retried in between: the next tick finds the group still unnotified and sends it again, for any
failure, a 4xx included. Resolved alerts leave the group once a notification succeeded, and
empty groups are dropped on the maintenance tick, as in ``dispatch/dispatch.go``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from alertloop.sim.alerting.alerts import PostableAlert
from alertloop.sim.alerting.errors import AlertingError
from alertloop.sim.alerting.model import NotificationPolicy
from alertloop.sim.alerting.routing import Route, group_key, group_labels, match_routes

log = logging.getLogger(__name__)
MAINTENANCE_INTERVAL = 30.0


@dataclass(frozen=True)
class Notification:
    """One flush of a group that has something to say: its alerts, each firing or resolved."""

    receiver: str
    group_key: str
    group_labels: dict[str, str]
    alerts: tuple[tuple[PostableAlert, bool], ...]  # (alert, firing)
    time: float

    @property
    def firing(self) -> list[PostableAlert]:
        return [a for a, firing in self.alerts if firing]

    @property
    def resolved(self) -> list[PostableAlert]:
        return [a for a, firing in self.alerts if not firing]


@dataclass
class _Sent:
    """The notification log entry of a group (``nflogpb.Entry``)."""

    firing: frozenset[str]
    resolved: frozenset[str]
    time: float


def merge(old: PostableAlert, new: PostableAlert, now: float) -> PostableAlert:
    """Alertmanager's ``Alert.Merge`` when the two overlap; else the new one."""
    overlap = (
        old.starts_at < new.ends_at < old.ends_at or old.starts_at < new.starts_at < old.ends_at
    )
    if not overlap:
        return new
    starts = min(old.starts_at, new.starts_at)
    ends = new.ends_at
    if new.resolved_at(now):
        if old.resolved_at(now) and old.ends_at > new.ends_at:
            ends = old.ends_at
    elif old.ends_at > new.ends_at:
        ends = old.ends_at
    return PostableAlert(new.labels, new.annotations, starts, ends, new.generator_url)


@dataclass
class AggregationGroup:
    """The alerts of one route with the same group labels, and when it flushes next."""

    route: Route
    labels: dict[str, str]
    key: str
    next_flush: float
    alerts: dict[str, PostableAlert] = field(default_factory=dict)
    has_flushed: bool = False
    sent: _Sent | None = None

    @property
    def policy(self) -> NotificationPolicy:
        return self.route.policy

    def insert(self, alert: PostableAlert, now: float) -> None:
        self.alerts[alert.fingerprint] = alert
        if not self.has_flushed and alert.starts_at + self.policy.group_wait < now:
            self.next_flush = min(self.next_flush, now)

    def needs_update(
        self, firing: frozenset[str], resolved: frozenset[str], now: float, send_resolved: bool
    ) -> bool:
        sent = self.sent
        if sent is None:
            return bool(firing)
        if not firing <= sent.firing:
            return True
        if not firing:
            return bool(sent.firing)
        if send_resolved and not resolved <= sent.resolved:
            return True
        return sent.time < now - self.policy.repeat_interval


class Dispatcher:
    """Routes alerts into groups and flushes them on their ticks through ``send``.

    ``send(notification)`` delivers one notification and returns whether it succeeded; it is
    called on the dispatcher's thread (or the caller's, with ``flush_due``).
    """

    def __init__(
        self,
        policy: NotificationPolicy,
        send: Callable[[Notification], bool],
        *,
        send_resolved: bool = True,
        maintenance_interval: float = MAINTENANCE_INTERVAL,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.policy = policy
        self.send = send
        self.send_resolved = send_resolved
        self.maintenance_interval = maintenance_interval
        self.clock = clock
        self.groups: dict[str, AggregationGroup] = {}
        self._notified: set[str] = set()
        self._alerts: dict[str, PostableAlert] = {}
        self._next_maintenance = clock() + maintenance_interval
        self._cond = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None

    # -- input ---------------------------------------------------------------------------
    def put(self, alerts: Iterable[PostableAlert], now: float | None = None) -> None:
        """Take alerts from the rule evaluation (Alertmanager's ``PutAlerts``)."""
        now = self.clock() if now is None else now
        with self._cond:
            for alert in alerts:
                fp = alert.fingerprint
                old = self._alerts.get(fp)
                merged = merge(old, alert, now) if old is not None else alert
                self._alerts[fp] = merged
                for route in match_routes(self.policy, merged.labels):
                    labels = group_labels(route.policy, merged.labels)
                    key = group_key(route, labels)
                    group = self.groups.get(key)
                    if group is None:
                        group = AggregationGroup(route, labels, key, now + route.policy.group_wait)
                        self.groups[key] = group
                    group.insert(merged, now)
            self._cond.notify_all()

    def notified(self, alertname: str) -> bool:
        """Whether a notification with an alert named ``alertname`` has gone out (delivered,
        or handed to a receiver that the simulator does not have)."""
        with self._cond:
            return alertname in self._notified

    # -- ticks ---------------------------------------------------------------------------
    def next_due(self) -> float:
        with self._cond:
            times = [g.next_flush for g in self.groups.values()]
            return min([*times, self._next_maintenance])

    def flush_due(self, now: float | None = None) -> list[Notification]:
        """Flush every group whose tick has come; return the notifications sent or tried."""
        now = self.clock() if now is None else now
        work: list[tuple[AggregationGroup, Notification, dict[str, PostableAlert], bool]] = []
        with self._cond:
            if now >= self._next_maintenance:
                self._next_maintenance = now + self.maintenance_interval
                for key in [k for k, g in self.groups.items() if not g.alerts]:
                    del self.groups[key]
            for group in list(self.groups.values()):
                if group.next_flush > now:
                    continue
                group.next_flush = now + group.policy.group_interval
                group.has_flushed = True
                if not group.alerts:
                    continue
                snapshot = dict(group.alerts)
                ordered = sorted(snapshot.values(), key=lambda a: sorted(a.labels.items()))
                pairs = tuple((a, not a.resolved_at(now)) for a in ordered)
                firing = frozenset(a.fingerprint for a, f in pairs if f)
                resolved = frozenset(a.fingerprint for a, f in pairs if not f)
                note = Notification(group.policy.receiver, group.key, group.labels, pairs, now)
                needed = group.needs_update(firing, resolved, now, self.send_resolved)
                work.append((group, note, snapshot, needed))
        done = []
        for group, note, snapshot, needed in work:
            ok = True
            if needed:
                ok = self._send(note)
                done.append(note)
            with self._cond:
                if ok and needed:
                    self._notified |= {a.name for a, _ in note.alerts}
                    group.sent = _Sent(
                        frozenset(a.fingerprint for a in note.firing),
                        frozenset(a.fingerprint for a in note.resolved),
                        now,
                    )
                if ok:  # resolved alerts were told (or need not be): drop them unless changed
                    for alert in note.resolved:
                        if group.alerts.get(alert.fingerprint) is snapshot[alert.fingerprint]:
                            del group.alerts[alert.fingerprint]
        return done

    def _send(self, note: Notification) -> bool:
        try:
            return self.send(note)
        except Exception:
            log.exception("notification of group %s failed", note.group_key)
            return False

    # -- thread --------------------------------------------------------------------------
    def start(self) -> Dispatcher:
        """Flush groups on their ticks on a thread. Raises AlertingError if already started."""
        if self._thread is not None:
            raise AlertingError("dispatcher already started")
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="alertloop-dispatcher", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        while True:
            with self._cond:
                if self._stopping:
                    return
                wait = self.next_due() - self.clock()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
            self.flush_due()
