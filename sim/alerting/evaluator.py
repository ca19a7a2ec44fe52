"""The alert evaluator that stands in for Grafana: evaluates the provisioned rule on its interval.

Each evaluation runs the rule's InfluxQL (``$timeFilter`` expanded to the relative time range)
against InfluxDB, reduces the series, applies the threshold, ``for`` and the noData/execErr
settings, and tracks Normal/Pending/Alerting (NoData/Error). When the set of firing alerts
changes, it posts Grafana's unified payload (or the legacy one) to the webhook contact point
with basic auth, retrying like Grafana on 5xx and connection errors.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from services.common.config import InfluxSettings
from services.common.deadline import wait_until
from services.common.errors import ConfigError
from services.common.lifecycle import Lifecycle
from sim.alerting import payloads
from sim.alerting.errors import AlertingError, QueryError
from sim.alerting.expressions import reduce_series, threshold_met
from sim.alerting.notifier import Notifier
from sim.alerting.provisioning import (
    BASE_INTERVAL,
    AlertRule,
    ContactPoint,
    NotificationPolicy,
    load_contact_point,
    load_policy,
    load_rule,
)
from sim.alerting.query import InfluxSource, SeriesSource, build_query
from sim.alerting.state import (
    FIRING_STATES,
    AlertState,
    Evaluation,
    Outcome,
    StateMachine,
    outcome_of,
)

log = logging.getLogger(__name__)

ENV_WEBHOOK_URL = "ALERTLOOP_WEBHOOK_URL"
ENV_WEBHOOK_USER = "ALERTLOOP_WEBHOOK_USER"
ENV_WEBHOOK_PASSWORD = "ALERTLOOP_WEBHOOK_PASSWORD"
PAYLOADS = ("unified", "legacy")


class AlertEvaluator(Lifecycle):
    """Evaluates one provisioned rule on its own thread and notifies the webhook.

    ``webhook_url``/``user``/``password`` fill the contact point's ``$ALERTLOOP_WEBHOOK_*``
    variables; when ``webhook_url`` is None they come from the environment. ``interval``
    overrides the rule's (Grafana's floor is 10 s; shorter values are for tests and demos).
    Raises ProvisioningError (a ConfigError) for bad provisioning files, ConfigError for a
    bad interval or payload kind.
    """

    def __init__(
        self,
        influx: InfluxSettings,
        webhook_url: str | None = None,
        user: str | None = None,
        password: str | None = None,
        *,
        rule: AlertRule | None = None,
        interval: float | None = None,
        payload: str = "unified",
        clock: Callable[[], float] = time.time,
        provisioning_dir: str | Path | None = None,
        contact: ContactPoint | None = None,
        policy: NotificationPolicy | None = None,
        source: SeriesSource | None = None,
        external_url: str = payloads.DEFAULT_EXTERNAL_URL,
        history_size: int = 10_000,
        notifier_options: Mapping[str, Any] | None = None,
    ) -> None:
        if payload not in PAYLOADS:
            raise ConfigError(f"payload must be one of {PAYLOADS}, not {payload!r}")
        self.influx = influx
        self.rule = rule or load_rule(provisioning_dir)
        self.interval = float(interval) if interval is not None else self.rule.interval
        if not self.interval > 0:
            raise ConfigError(f"evaluation interval must be positive, got {interval!r}")
        if self.interval < BASE_INTERVAL:
            log.info(
                "evaluating every %.3g s; Grafana cannot go below %.0f s",
                self.interval,
                BASE_INTERVAL,
            )
        if contact is None:
            env = os.environ if webhook_url is None else {
                ENV_WEBHOOK_URL: webhook_url, ENV_WEBHOOK_USER: user or "", ENV_WEBHOOK_PASSWORD: password or "",
            }  # fmt: skip
            contact = load_contact_point(provisioning_dir, env=env)
        self.contact = contact
        self.policy = policy or load_policy(provisioning_dir)
        self.payload = payload
        self.clock = clock
        self.external_url = external_url
        self._source = source
        self._own_source = source is None
        self._notifier_options = dict(notifier_options or {})
        self.notifier: Notifier | None = None
        self._machine = StateMachine(self.rule)
        self._history: deque[Evaluation] = deque(maxlen=history_size)
        self._firing: dict[str, payloads.AlertInstance] = {}
        self._last_sent = 0.0
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- what a user reads ---------------------------------------------------------------
    @property
    def state(self) -> AlertState:
        with self._cond:
            return self._machine.state

    @property
    def history(self) -> list[Evaluation]:
        with self._cond:
            return list(self._history)

    @property
    def last(self) -> Evaluation | None:
        with self._cond:
            return self._history[-1] if self._history else None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def webhook_url(self) -> str:
        return self.contact.url

    def wait_for_state(self, state: AlertState | str, timeout: float) -> Evaluation:
        """Wait until an evaluation leaves the rule in ``state``; return that evaluation.

        Raises TimeoutExpired with the last evaluations seen, ValueError for an unknown state.
        """
        wanted = AlertState(state)

        def reached() -> Evaluation | None:
            last = self.last
            return last if last is not None and last.state is wanted else None

        return wait_until(
            reached,
            timeout,
            what=f"alert rule {self.rule.title} to be {wanted.value}",
            state=lambda: [
                (round(e.time, 2), e.value, e.state.value, e.error) for e in self.history[-5:]
            ],
            hint=f"evaluating every {self.interval:g} s; is the knob publishing and the ingester storing?",
        )

    # -- evaluation ----------------------------------------------------------------------
    def evaluate_once(self, now: float | None = None) -> Evaluation:
        """Run one evaluation at ``now`` (default: the clock), notify on a change, return it.

        Raises AlertingError if the evaluator has no data source (never started, no ``source``).
        """
        now = self.clock() if now is None else now
        if self._source is None:
            raise AlertingError("evaluator is not started: call start() or pass a source")
        value: float | None = None
        error: str | None = None
        points = 0
        try:
            series = self._source.points(build_query(self.rule.query, now))
        except QueryError as exc:
            outcome, error = Outcome.ERROR, str(exc)
        else:
            points = len(series)
            value = reduce_series([p.value for p in series], self.rule.reduce)
            outcome = outcome_of(threshold_met(value, self.rule.threshold), points)
            if points == 0:
                value = None
        with self._cond:
            state, changed = self._machine.step(now, outcome)
            evaluation = Evaluation(now, value, outcome, state, points, error, changed)
            self._history.append(evaluation)
            self._cond.notify_all()
        if changed:
            log.info("rule %s: %s (value=%s)", self.rule.title, state.value, value)
            self._on_change(evaluation)
        elif state in FIRING_STATES and now - self._last_sent >= self.policy.repeat_interval:
            self._send(now, resolved=[])
        return evaluation

    def _values(self, evaluation: Evaluation) -> dict[str, float]:
        if evaluation.value is None or math.isnan(evaluation.value):
            return {}
        met = threshold_met(evaluation.value, self.rule.threshold)
        return {
            self.rule.reduce.ref_id: evaluation.value,
            self.rule.threshold.ref_id: 1.0 if met else 0.0,
        }

    def _on_change(self, evaluation: Evaluation) -> None:
        names = {
            AlertState.ALERTING: self.rule.title,
            AlertState.NO_DATA: payloads.NO_DATA_ALERT,
            AlertState.ERROR: payloads.ERROR_ALERT,
        }
        now, values = evaluation.time, self._values(evaluation)
        wanted = names.get(evaluation.state)
        resolved = []
        for name in list(self._firing):
            if name != wanted:
                old = self._firing.pop(name)
                resolved.append(
                    payloads.make_instance(
                        self.rule, values or old.values, old.starts_at, now, name
                    )
                )
        if wanted is not None and wanted not in self._firing:
            special = None if wanted == self.rule.title else wanted
            self._firing[wanted] = payloads.make_instance(self.rule, values, now, None, special)
        if resolved or wanted is not None:
            self._send(now, resolved, evaluation)

    def _send(
        self,
        now: float,
        resolved: list[payloads.AlertInstance],
        evaluation: Evaluation | None = None,
    ) -> None:
        if self.notifier is None:
            return
        firing = list(self._firing.values())
        if not firing and self.contact.disable_resolve_message:
            return
        self._last_sent = now
        if self.payload == "unified":
            body = payloads.unified_payload(
                firing + resolved, self.rule, self.contact, self.policy, self.external_url
            )
            summary = body["title"]
        else:
            state = self.state
            legacy = {
                AlertState.NO_DATA: "no_data",
                AlertState.ALERTING: "alerting",
                AlertState.ERROR: "alerting",
            }
            value = (
                evaluation.value
                if evaluation is not None
                else self.last.value
                if self.last
                else None
            )
            body = payloads.legacy_payload(
                self.rule, legacy.get(state, "ok"), value, self.external_url
            )
            summary = body["title"]
        self.notifier.submit(body, summary)

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> AlertEvaluator:
        """Start evaluating on a thread. Raises AlertingError if already running."""
        if self._thread is not None:
            raise AlertingError("evaluator already started")
        try:
            if self._source is None:
                self._source = InfluxSource(self.influx)
            self.notifier = Notifier(
                self.contact.url, self.contact.username, self.contact.password,
                method=self.contact.http_method, **self._notifier_options,
            )  # fmt: skip
            self.notifier.start()
        except BaseException:
            self.stop()
            raise
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="alertloop-evaluator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop evaluating, deliver a pending notification if it is quick, close connections."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10.0)
            self._thread = None
        if self.notifier is not None:
            self.notifier.stop()
        if self._own_source and self._source is not None:
            self._source.close()
            self._source = None

    def _run(self) -> None:
        while not self._stop.is_set():
            now = self.clock()
            tick = math.floor(now / self.interval) * self.interval + self.interval
            if self._stop.wait(max(0.0, tick - now)):
                return
            try:
                self.evaluate_once()
            except Exception:
                log.exception("evaluation of rule %s failed", self.rule.title)

    def __repr__(self) -> str:
        return f"<AlertEvaluator rule={self.rule.uid} every {self.interval:g}s state={self.state.value}>"
