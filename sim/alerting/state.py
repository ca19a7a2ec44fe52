"""One rule's alert state as Grafana's state manager keeps it (``pkg/services/ngalert/state``).

Each evaluation's result (Normal, Alerting, NoData, Error) moves the rule's one alert instance
through Normal, Pending, Alerting, NoData and Error: ``for`` holds a firing result Pending;
``noDataState``/``execErrState`` say what NoData and Error results become (``NoData``/``Error``
keep states of their own, which Grafana sends as separate ``DatasourceNoData`` and
``DatasourceError`` alerts; ``OK`` is Normal; ``Alerting`` is Alerting; ``KeepLast`` keeps
Alerting and Normal, promotes Pending once ``for`` has passed, and turns NoData/Error into
Normal). An instance is *resolved* only on Alerting -> Normal. A firing instance's ``ends_at``
is its last evaluation plus four times the longer of the interval and the resend delay, so an
alert that stops being sent expires on its own.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field

from alertloop.sim.alerting.model import AlertRule

RESEND_DELAY = 30.0  # Grafana's ResendDelay: firing states are re-sent this often
RESOLVED_RETENTION = 900.0  # resolved alerts are re-sent for 15 min (resolved_alert_retention)


class AlertState(enum.StrEnum):
    """The state of a rule's alert instance."""

    NORMAL = "Normal"
    PENDING = "Pending"
    ALERTING = "Alerting"
    NO_DATA = "NoData"
    ERROR = "Error"


class Outcome(enum.StrEnum):
    """What one evaluation found before the rule's noData/execErr settings apply."""

    FIRING = "firing"
    NOT_FIRING = "not_firing"
    NO_DATA = "no_data"
    ERROR = "error"


_RESULT_STATE = {
    Outcome.FIRING: AlertState.ALERTING,
    Outcome.NOT_FIRING: AlertState.NORMAL,
    Outcome.NO_DATA: AlertState.NO_DATA,
    Outcome.ERROR: AlertState.ERROR,
}

# States whose instance is sent to the notifier as firing (as a DatasourceNoData/-Error alert
# for the last two).
FIRING_STATES = (AlertState.ALERTING, AlertState.NO_DATA, AlertState.ERROR)


@dataclass(frozen=True)
class Evaluation:
    """One evaluation of one rule: when, what the reduce gave, what it meant, the new state."""

    time: float
    value: float | None
    outcome: Outcome
    state: AlertState
    points: int = 0
    error: str | None = None
    changed: bool = False
    rule: str = ""
    reason: str = ""

    @property
    def firing(self) -> bool:
        return self.state is AlertState.ALERTING


@dataclass
class Instance:
    """Grafana's ``State`` of the rule's one instance, as it stands after an evaluation."""

    state: AlertState = AlertState.NORMAL
    reason: str = ""
    starts_at: float = 0.0
    ends_at: float = 0.0
    resolved_at: float | None = None
    last_sent_at: float | None = None
    last_eval: float = 0.0
    values: dict[str, float] = field(default_factory=dict)
    value_string: str = ""
    error: str | None = None
    error_labels: dict[str, str] = field(default_factory=dict)  # ref_id, datasource_uid
    error_annotations: dict[str, str] = field(default_factory=dict)

    def needs_sending(
        self, resend_delay: float = RESEND_DELAY, retention: float = RESOLVED_RETENTION
    ) -> bool:
        """Whether this instance goes to the notifier now (Grafana's ``NeedsSending``)."""
        if self.state is AlertState.PENDING:
            return False
        if self.resolved_at is not None and (
            self.last_sent_at is None or self.resolved_at > self.last_sent_at
        ):
            return True
        if self.state is AlertState.NORMAL and (
            self.resolved_at is None or self.last_eval - self.resolved_at > retention
        ):
            return False
        return self.last_sent_at is None or self.last_sent_at + resend_delay <= self.last_eval


@dataclass(frozen=True)
class Transition:
    """The instance after one evaluation, and the state it came from."""

    instance: Instance
    previous: AlertState
    previous_reason: str = ""

    @property
    def changed(self) -> bool:
        return self.previous is not self.instance.state or (
            self.previous_reason != self.instance.reason
        )


class StateMachine:
    """Applies ``for``, ``noDataState`` and ``execErrState`` to a stream of results.

    ``interval`` is the rule's evaluation interval in seconds and ``resend_delay`` Grafana's
    resend delay; together they give a firing alert's ``ends_at``.
    """

    def __init__(
        self, rule: AlertRule, interval: float | None = None, resend_delay: float = RESEND_DELAY
    ) -> None:
        self.rule = rule
        self.interval = rule.interval if interval is None else interval
        self.resend_delay = resend_delay
        self.instance = Instance()

    @property
    def state(self) -> AlertState:
        return self.instance.state

    def next_ends(self, now: float) -> float:
        """Grafana's ``nextEndsTime``: now + 4 x max(interval, resend delay)."""
        return now + 4 * max(self.interval, self.resend_delay)

    def step(
        self,
        now: float,
        outcome: Outcome,
        values: dict[str, float] | None = None,
        value_string: str = "",
        error: str | None = None,
    ) -> Transition:
        """Advance with one evaluation's result at ``now``; returns the transition."""
        inst = self.instance
        previous, previous_reason = inst.state, inst.reason
        inst.last_eval = now
        if outcome in (Outcome.NO_DATA, Outcome.ERROR):
            inst.values = {ref: -1.0 for ref in inst.values}  # Grafana's placeholder
        else:
            inst.values = dict(values or {})
        inst.value_string = value_string
        if inst.state is AlertState.ERROR and outcome is not Outcome.ERROR:
            inst.error_labels = {}
        inst.error_annotations = {}
        if outcome is Outcome.FIRING:
            self._alerting(now, "")
        elif outcome is Outcome.NOT_FIRING:
            self._normal(now, "")
        elif outcome is Outcome.NO_DATA:
            self._no_data(now)
        else:
            self._error(now, error or "query failed")
        result_state = _RESULT_STATE[outcome]
        inst.reason = ""
        if inst.state is not result_state and result_state not in (
            AlertState.NORMAL,
            AlertState.ALERTING,
        ):
            setting = (
                self.rule.no_data_state if outcome is Outcome.NO_DATA else self.rule.exec_err_state
            )
            inst.reason = result_state.value + (", KeepLast" if setting == "KeepLast" else "")
        if previous is AlertState.ALERTING and inst.state is AlertState.NORMAL:
            inst.resolved_at = now
        elif inst.state not in (AlertState.NORMAL, AlertState.PENDING):
            inst.resolved_at = None
        return Transition(dataclasses.replace(inst), previous, previous_reason)

    def mark_sent(self, now: float) -> None:
        self.instance.last_sent_at = now

    # -- Grafana's result handlers -------------------------------------------------------
    def _set(self, state: AlertState, starts: float, ends: float) -> None:
        inst = self.instance
        inst.state, inst.starts_at, inst.ends_at = state, starts, ends
        if state is not AlertState.ERROR:
            inst.error = None

    def _normal(self, now: float, reason: str) -> None:
        if self.instance.state is not AlertState.NORMAL:
            self._set(AlertState.NORMAL, now, now)

    def _alerting(self, now: float, reason: str) -> None:
        inst = self.instance
        if inst.state is AlertState.ALERTING:
            inst.ends_at = self.next_ends(now)
        elif inst.state is AlertState.PENDING:
            if now - inst.starts_at >= self.rule.for_seconds - 1e-6:
                self._set(AlertState.ALERTING, now, self.next_ends(now))
        elif self.rule.for_seconds > 0:
            self._set(AlertState.PENDING, now, self.next_ends(now))
        else:
            self._set(AlertState.ALERTING, now, self.next_ends(now))

    def _keep_last(self, now: float) -> None:
        inst = self.instance
        if inst.state is AlertState.ALERTING:
            self._alerting(now, "")
        elif inst.state is AlertState.PENDING:
            if now - inst.starts_at >= self.rule.for_seconds - 1e-6:
                self._alerting(now, "")
        else:
            self._normal(now, "")

    def _no_data(self, now: float) -> None:
        setting = self.rule.no_data_state
        if setting == "Alerting":
            self._alerting(now, "NoData")
        elif setting == "OK":
            self._normal(now, "NoData")
        elif setting == "KeepLast":
            self._keep_last(now)
        elif self.instance.state is AlertState.NO_DATA:
            self.instance.ends_at = self.next_ends(now)
        else:
            self._set(AlertState.NO_DATA, now, self.next_ends(now))

    def _error(self, now: float, error: str) -> None:
        setting = self.rule.exec_err_state
        inst = self.instance
        query = self.rule.query
        if setting == "Error":
            if inst.state is AlertState.ERROR:
                inst.ends_at = self.next_ends(now)
            else:
                self._set(AlertState.ERROR, now, self.next_ends(now))
            inst.error = error
            inst.error_labels = {"ref_id": query.ref_id, "datasource_uid": query.datasource_uid}
            # no "Error" annotation: captured DatasourceError bodies (Grafana 10+) carry none
            return
        if setting == "Alerting":
            self._alerting(now, "Error")
            inst.error = error
        elif setting == "OK":
            self._normal(now, "")
        else:
            self._keep_last(now)
        inst.error_annotations = {
            "Error": error,
            "ref_id": query.ref_id,
            "datasource_uid": query.datasource_uid,
        }


def outcome_of(met: bool, points: int) -> Outcome:
    """The outcome of one evaluation: no points in the window is no data."""
    if points == 0:
        return Outcome.NO_DATA
    return Outcome.FIRING if met else Outcome.NOT_FIRING
