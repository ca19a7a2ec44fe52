"""The alert evaluator that stands in for Grafana: every provisioned rule, on its interval.

Each evaluation runs a rule's InfluxQL (``$timeFilter`` expanded to the relative time range)
against InfluxDB, reduces the series, applies the threshold, and steps the rule's state as
Grafana's state manager does (``state.py``). The alerts that need sending go to a miniature of
Grafana's Alertmanager (``dispatcher.py``), which groups them by the notification policy and
posts Grafana's unified payload to the webhook contact point on the group's ticks
(``group_wait``, ``group_interval``, ``repeat_interval``). With ``payload="legacy"`` it posts
legacy alerting's body on every state change of a rule instead (for the rules the policy
routes to the webhook: legacy alerting had a channel list per rule).

Grafana evaluates every 10 s at the fastest (group intervals are multiples of its 10 s base
interval); a shorter interval needs ``faster_than_grafana=True`` (``--faster-than-grafana``).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from alertloop.services.common.config import InfluxSettings
from alertloop.services.common.deadline import wait_until
from alertloop.services.common.errors import ConfigError
from alertloop.services.common.lifecycle import Lifecycle
from alertloop.sim.alerting import payloads
from alertloop.sim.alerting.alerts import postable_alert, rule_labels
from alertloop.sim.alerting.dispatcher import MAINTENANCE_INTERVAL, Dispatcher, Notification
from alertloop.sim.alerting.errors import AlertingError
from alertloop.sim.alerting.notifier import Notifier
from alertloop.sim.alerting.provisioning import (
    BASE_INTERVAL,
    AlertRule,
    ContactPoint,
    NotificationPolicy,
    load_contact_point,
    load_policy,
    load_rules,
    loop_rule,
)
from alertloop.sim.alerting.query import InfluxSource, SeriesSource
from alertloop.sim.alerting.routing import match_routes
from alertloop.sim.alerting.rule_eval import RuleEvaluation
from alertloop.sim.alerting.state import (
    RESEND_DELAY,
    RESOLVED_RETENTION,
    AlertState,
    Evaluation,
    Transition,
)

log = logging.getLogger(__name__)

ENV_WEBHOOK_URL = "ALERTLOOP_WEBHOOK_URL"
ENV_WEBHOOK_USER = "ALERTLOOP_WEBHOOK_USER"
ENV_WEBHOOK_PASSWORD = "ALERTLOOP_WEBHOOK_PASSWORD"
PAYLOADS = ("unified", "legacy")
LEGACY_STATES = {AlertState.ALERTING: "alerting", AlertState.ERROR: "alerting",
                 AlertState.NO_DATA: "no_data", AlertState.NORMAL: "ok"}  # fmt: skip


def check_interval(interval: float, faster_than_grafana: bool, what: str = "interval") -> float:
    """``interval`` if Grafana could evaluate at it (a positive multiple of 10 s) or the caller
    opted in to going faster. Raises ConfigError otherwise."""
    if not interval > 0:
        raise ConfigError(f"evaluation {what} must be positive, got {interval!r}")
    multiple = abs(interval / BASE_INTERVAL - round(interval / BASE_INTERVAL)) < 1e-9
    if not faster_than_grafana and (interval < BASE_INTERVAL or not multiple):
        raise ConfigError(
            f"evaluation {what} {interval:g} s: Grafana evaluates every 10 s at the fastest, in "
            "multiples of 10 s; pass --faster-than-grafana (faster_than_grafana=True) to run "
            "faster than Grafana can"
        )
    return float(interval)


class AlertEvaluator(Lifecycle):
    """Evaluates the provisioned rules on a thread and notifies the webhook like Grafana.

    ``rule`` evaluates that one rule only; ``rules`` these; by default every rule in the
    provisioning files. ``primary`` (a uid) names the rule that ``state``/``history``/
    ``wait_for_state`` report on (default: the loop's rule, see ``loop_rule``).
    ``webhook_url``/``user``/``password`` fill the contact point's ``$ALERTLOOP_WEBHOOK_*``
    variables; when ``webhook_url`` is None they come from the environment. ``interval``
    overrides every rule's. ``resend_delay`` (30 s), ``resolved_retention`` (Grafana's
    ``resolved_alert_retention``, 15 min: a resolved instance is sent again every resend delay
    for that long) and ``maintenance_interval`` (Alertmanager's, 30 s) are Grafana's defaults,
    to change in tests and benchmarks. Raises ProvisioningError for bad
    provisioning files, ConfigError for a bad interval or payload kind.
    """

    def __init__(
        self,
        influx: InfluxSettings,
        webhook_url: str | None = None,
        user: str | None = None,
        password: str | None = None,
        *,
        rule: AlertRule | None = None,
        rules: Sequence[AlertRule] | None = None,
        primary: str | None = None,
        interval: float | None = None,
        faster_than_grafana: bool = False,
        payload: str = "unified",
        clock: Callable[[], float] = time.time,
        provisioning_dir: str | Path | None = None,
        contact: ContactPoint | None = None,
        policy: NotificationPolicy | None = None,
        source: SeriesSource | None = None,
        external_url: str = payloads.DEFAULT_EXTERNAL_URL,
        history_size: int = 10_000,
        resend_delay: float = RESEND_DELAY,
        resolved_retention: float = RESOLVED_RETENTION,
        maintenance_interval: float = MAINTENANCE_INTERVAL,
        notifier_options: Mapping[str, Any] | None = None,
    ) -> None:
        if payload not in PAYLOADS:
            raise ConfigError(f"payload must be one of {PAYLOADS}, not {payload!r}")
        self.influx = influx
        chosen = [rule] if rule is not None else list(rules or load_rules(provisioning_dir))
        if not chosen:
            raise ConfigError("no alert rule to evaluate")
        self.faster_than_grafana = faster_than_grafana
        if interval is not None:
            check_interval(interval, faster_than_grafana)
        self.rules = {}
        for r in chosen:
            every = check_interval(
                float(interval) if interval is not None else r.interval,
                faster_than_grafana,
                f"interval of rule {r.uid}",
            )
            self.rules[r.uid] = RuleEvaluation(r, every, resend_delay, history_size)
        self._primary = self.rules[primary].rule if primary else loop_rule(chosen)
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
        self.resend_delay = resend_delay
        self.resolved_retention = resolved_retention
        self._source = source
        self._own_source = source is None
        self._notifier_options = dict(notifier_options or {})
        self.notifier: Notifier | None = None
        self.unrouted: list[Notification] = []  # flushed to receivers the simulator lacks
        self.dispatcher = Dispatcher(
            self.policy, self._send, send_resolved=not contact.disable_resolve_message,
            maintenance_interval=maintenance_interval, clock=clock,
        )  # fmt: skip
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = False

    # -- what a user reads ---------------------------------------------------------------
    @property
    def rule(self) -> AlertRule:
        """The primary rule (the loop's)."""
        return self._primary

    @property
    def interval(self) -> float:
        return self.rules[self._primary.uid].interval

    @property
    def state(self) -> AlertState:
        return self.state_of(self._primary.uid)

    def state_of(self, rule: str) -> AlertState:
        """The state of the rule with uid or title ``rule``. Raises KeyError for an unknown one."""
        with self._cond:
            return self._find(rule).state

    @property
    def history(self) -> list[Evaluation]:
        return self.history_of(self._primary.uid)

    def history_of(self, rule: str) -> list[Evaluation]:
        with self._cond:
            return list(self._find(rule).history)

    @property
    def last(self) -> Evaluation | None:
        history = self.history
        return history[-1] if history else None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def webhook_url(self) -> str:
        return self.contact.url

    def _find(self, rule: str) -> RuleEvaluation:
        if rule in self.rules:
            return self.rules[rule]
        for candidate in self.rules.values():
            if candidate.rule.title == rule:
                return candidate
        raise KeyError(f"no rule {rule!r}; evaluating {sorted(self.rules)}")

    def wait_for_state(
        self, state: AlertState | str, timeout: float, rule: str | None = None
    ) -> Evaluation:
        """Wait until an evaluation leaves the rule (default: the primary) in ``state``.

        Raises TimeoutExpired with the last evaluations seen, ValueError for an unknown state.
        """
        wanted = AlertState(state)
        target = self._find(rule or self._primary.uid)

        def reached() -> Evaluation | None:
            history = self.history_of(target.rule.uid)
            last = history[-1] if history else None
            return last if last is not None and last.state is wanted else None

        return wait_until(
            reached,
            timeout,
            what=f"alert rule {target.rule.title} to be {wanted.value}",
            state=lambda: [
                (round(e.time, 2), e.value, e.state.value, e.error)
                for e in self.history_of(target.rule.uid)[-5:]
            ],
            hint=f"evaluating every {target.interval:g} s; is the knob publishing and the ingester storing?",
        )

    # -- evaluation ----------------------------------------------------------------------
    def evaluate_once(self, now: float | None = None, rule: str | None = None) -> Evaluation:
        """Evaluate every rule (or ``rule``) at ``now`` (default: the clock) and hand what
        needs sending to the notifier; return the primary rule's (or ``rule``'s) evaluation.

        Raises AlertingError if the evaluator has no data source (never started, no ``source``).
        """
        now = self.clock() if now is None else now
        targets = [self._find(rule)] if rule else list(self.rules.values())
        results = {r.rule.uid: self._evaluate(r, now) for r in targets}
        return results.get(self._primary.uid) or next(iter(results.values()))

    def _evaluate(self, target: RuleEvaluation, now: float) -> Evaluation:
        if self._source is None:
            raise AlertingError("evaluator is not started: call start() or pass a source")
        evaluation, transition = target.evaluate(self._source, now, self._cond)
        with self._cond:
            self._cond.notify_all()
        if evaluation.changed:
            log.info(
                "rule %s: %s (value=%s)",
                target.rule.title,
                evaluation.state.value,
                evaluation.value,
            )
        if self.payload == "legacy":
            self._send_legacy(target, transition)
        elif transition.instance.needs_sending(self.resend_delay, self.resolved_retention):
            alert = postable_alert(transition, target.rule, self.external_url)
            with self._cond:
                target.machine.mark_sent(now)
            self.dispatcher.put([alert], now)
        return evaluation

    def _send(self, note: Notification) -> bool:
        if note.receiver != self.contact.name:
            log.debug("group %s goes to %s, which is not simulated", note.group_key, note.receiver)
            self.unrouted.append(note)
            return True
        if self.notifier is None:
            return False
        body = payloads.unified_payload(note, self.contact, self._primary.org_id, self.external_url)
        if not body["alerts"]:
            return True
        return self.notifier.deliver(body, body["title"], note.group_key).ok

    def _legacy_channel(self, rule: AlertRule) -> bool:
        """Whether legacy notifications of ``rule`` go to the webhook: legacy alerting had a
        channel list per rule, not policies; here a rule notifies the webhook when the
        provisioned policy routes its alerts there."""
        routes = match_routes(self.policy, rule_labels(rule))
        return any(r.policy.receiver == self.contact.name for r in routes)

    def _send_legacy(self, target: RuleEvaluation, transition: Transition) -> None:
        state = LEGACY_STATES.get(transition.instance.state)
        before = LEGACY_STATES.get(transition.previous)
        if self.notifier is None or state is None or state == before:
            return
        if not self._legacy_channel(target.rule):
            return
        if state == "ok" and before is None:
            return
        rule_id = list(self.rules).index(target.rule.uid) + 1
        history = target.history
        value = history[-1].value if history else None
        body = payloads.legacy_payload(target.rule, state, value, self.external_url, rule_id)
        self.notifier.deliver(body, body["title"])

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> AlertEvaluator:
        """Start evaluating on a thread. Raises AlertingError if already running."""
        if self._started:
            raise AlertingError("evaluator already started")
        try:
            if self._source is None:
                self._source = InfluxSource(self.influx)
            self.notifier = Notifier(
                self.contact.url, self.contact.username, self.contact.password,
                method=self.contact.http_method, **self._notifier_options,
            )  # fmt: skip
            self.dispatcher.start()
        except BaseException:
            self.stop()
            raise
        self._started = True
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="alertloop-evaluator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop evaluating and notifying, close connections."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10.0)
            self._thread = None
        self.dispatcher.stop()
        if self.notifier is not None:
            self.notifier.close()
        if self._own_source and self._source is not None:
            self._source.close()
            self._source = None
        self._started = False

    def _run(self) -> None:
        due = {uid: r.next_tick(self.clock()) for uid, r in self.rules.items()}
        while not self._stop.is_set():
            tick = min(due.values())
            if self._stop.wait(max(0.0, tick - self.clock())):
                return
            for uid, target in self.rules.items():
                if due[uid] > tick:
                    continue
                due[uid] = target.next_tick(max(tick, self.clock()))
                try:
                    self._evaluate(target, tick)
                except Exception:
                    log.exception("evaluation of rule %s failed", target.rule.title)

    def __repr__(self) -> str:
        return (
            f"<AlertEvaluator rules={sorted(self.rules)} every {self.interval:g}s "
            f"state={self.state.value}>"
        )
