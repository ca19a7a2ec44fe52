"""The alert evaluator that stands in for Grafana, reading Grafana's own provisioning files."""

from alertloop.sim.alerting.dispatcher import Dispatcher, Notification
from alertloop.sim.alerting.errors import AlertingError, NotifyError, ProvisioningError, QueryError
from alertloop.sim.alerting.evaluator import AlertEvaluator, check_interval
from alertloop.sim.alerting.payloads import legacy_payload, unified_payload
from alertloop.sim.alerting.provisioning import (
    AlertRule,
    ContactPoint,
    NotificationPolicy,
    default_provisioning_dir,
    load_contact_point,
    load_policy,
    load_rule,
    load_rules,
    loop_rule,
)
from alertloop.sim.alerting.state import AlertState, Evaluation

__all__ = [
    "AlertEvaluator",
    "AlertRule",
    "AlertState",
    "AlertingError",
    "ContactPoint",
    "Dispatcher",
    "Evaluation",
    "Notification",
    "NotificationPolicy",
    "NotifyError",
    "ProvisioningError",
    "QueryError",
    "check_interval",
    "default_provisioning_dir",
    "legacy_payload",
    "load_contact_point",
    "load_policy",
    "load_rule",
    "load_rules",
    "loop_rule",
    "unified_payload",
]
