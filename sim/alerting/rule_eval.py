"""One rule's evaluation: run its query, reduce, threshold, and step its state machine."""

from __future__ import annotations

import contextlib
import math
from collections import deque

from alertloop.sim.alerting.errors import QueryError
from alertloop.sim.alerting.expressions import reduce_series, threshold_met
from alertloop.sim.alerting.model import AlertRule
from alertloop.sim.alerting.query import SeriesSource, build_query
from alertloop.sim.alerting.state import (
    RESEND_DELAY,
    AlertState,
    Evaluation,
    Outcome,
    StateMachine,
    Transition,
    outcome_of,
)


def value_string(values: dict[str, float]) -> str:
    """Grafana's evaluation string: ``[ var='B' labels={} value=55 ], [ var='C' ... ]``."""
    from alertloop.sim.alerting.alerts import format_number

    return ", ".join(
        f"[ var='{k}' labels={{}} value={format_number(v)} ]" for k, v in sorted(values.items())
    )


class RuleEvaluation:
    """A rule, its state machine at ``interval`` and the history of its evaluations."""

    def __init__(
        self,
        rule: AlertRule,
        interval: float,
        resend_delay: float = RESEND_DELAY,
        history_size: int = 10_000,
    ) -> None:
        self.rule = rule
        self.interval = interval
        self.machine = StateMachine(rule, interval, resend_delay)
        self.history: deque[Evaluation] = deque(maxlen=history_size)

    @property
    def state(self) -> AlertState:
        return self.machine.state

    def next_tick(self, now: float) -> float:
        """The next multiple of the interval after ``now``."""
        return math.floor(now / self.interval) * self.interval + self.interval

    def evaluate(
        self,
        source: SeriesSource,
        now: float,
        lock: contextlib.AbstractContextManager[object] | None = None,
    ) -> tuple[Evaluation, Transition]:
        """Query ``source`` for the window ending at ``now`` and advance the state (under
        ``lock``, which the query itself is not)."""
        rule = self.rule
        value: float | None = None
        error: str | None = None
        points = 0
        values: dict[str, float] = {}
        try:
            series = source.points(build_query(rule.query, now))
        except QueryError as exc:
            outcome, error = Outcome.ERROR, str(exc)
        else:
            points = len(series)
            value = reduce_series([p.value for p in series], rule.reduce)
            met = threshold_met(value, rule.threshold)
            outcome = outcome_of(met, points)
            if points == 0:
                value = None
            else:
                values = {rule.reduce.ref_id: value, rule.threshold.ref_id: 1.0 if met else 0.0}
        text = (
            value_string(values)
            if values and all(math.isfinite(v) for v in values.values())
            else ""
        )
        with lock if lock is not None else contextlib.nullcontext():
            transition = self.machine.step(now, outcome, values, text, error)
            evaluation = Evaluation(
                now, value, outcome, transition.instance.state, points, error,
                transition.changed, rule.uid, transition.instance.reason,
            )  # fmt: skip
            self.history.append(evaluation)
        return evaluation, transition
