"""The rule's state machine: Normal, Pending, Alerting, NoData, Error, as Grafana tracks them."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from sim.alerting.provisioning import AlertRule


class AlertState(enum.StrEnum):
    """The state of the rule's one alert instance."""

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


@dataclass(frozen=True)
class Evaluation:
    """One evaluation: when, what the reduce gave, what it meant and the resulting state."""

    time: float
    value: float | None
    outcome: Outcome
    state: AlertState
    points: int = 0
    error: str | None = None
    changed: bool = False

    @property
    def firing(self) -> bool:
        return self.state is AlertState.ALERTING


# Which states send a firing notification (the rest are "resolved"/ok).
FIRING_STATES = (AlertState.ALERTING, AlertState.NO_DATA, AlertState.ERROR)


class StateMachine:
    """Applies ``for``, ``noDataState`` and ``execErrState`` to a stream of outcomes."""

    def __init__(self, rule: AlertRule) -> None:
        self.rule = rule
        self.state = AlertState.NORMAL
        self.active_since: float | None = None  # start of the current Pending/Alerting period
        self.state_since: float | None = None

    def _mapped(self, outcome: Outcome) -> Outcome | AlertState | None:
        """Turn NoData/Error into what the rule says; None keeps the last state."""
        if outcome is Outcome.NO_DATA:
            setting = self.rule.no_data_state
            fallback = AlertState.NO_DATA
        elif outcome is Outcome.ERROR:
            setting = self.rule.exec_err_state
            fallback = AlertState.ERROR
        else:
            return outcome
        if setting == "OK":
            return Outcome.NOT_FIRING
        if setting == "Alerting":
            return Outcome.FIRING
        if setting == "KeepLast":
            return None
        return fallback

    def step(self, now: float, outcome: Outcome) -> tuple[AlertState, bool]:
        """Advance with one evaluation's outcome at ``now``; returns (state, changed)."""
        before = self.state
        mapped = self._mapped(outcome)
        if mapped is None:
            pass
        elif isinstance(mapped, AlertState):
            self.state, self.active_since = mapped, None
        elif mapped is Outcome.FIRING:
            if self.state not in (AlertState.PENDING, AlertState.ALERTING):
                self.active_since = now
            assert self.active_since is not None
            held = now - self.active_since
            done = self.rule.for_seconds <= 0 or held >= self.rule.for_seconds - 1e-6
            self.state = (
                AlertState.ALERTING
                if done or self.state is AlertState.ALERTING
                else AlertState.PENDING
            )
        else:
            self.state, self.active_since = AlertState.NORMAL, None
        changed = self.state is not before
        if changed or self.state_since is None:
            self.state_since = now
        return self.state, changed


def outcome_of(met: bool, points: int) -> Outcome:
    """The outcome of one evaluation: no points in the window is no data."""
    if points == 0:
        return Outcome.NO_DATA
    return Outcome.FIRING if met else Outcome.NOT_FIRING
