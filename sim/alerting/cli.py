"""``alertloop sim alerting``: run the simulated Grafana alert evaluator against given URLs."""

from __future__ import annotations

import logging
import sys
import threading

from alertloop.services.common.commands import Command
from alertloop.services.common.config import (
    INFLUX_OPTIONS,
    LOG_FORMAT,
    LOG_LEVEL,
    influx_from,
)
from alertloop.services.common.errors import AlertloopError
from alertloop.services.common.logs import configure_logging
from alertloop.services.common.settings import Option, number
from alertloop.sim.alerting.evaluator import ENV_WEBHOOK_PASSWORD, AlertEvaluator
from alertloop.sim.alerting.provisioning import (
    AlertRule,
    default_provisioning_dir,
    load_rule,
    load_rules,
)

log = logging.getLogger(__name__)
COMMAND = Command(
    "alertloop sim alerting",
    "Evaluate every provisioned Grafana alert rule against InfluxDB and post Grafana's webhook "
    "payload on the notification policy's ticks.",
    [
        Option("--interval", "seconds between evaluations", type=number,
               default_text="each rule's, 10"),
        Option("--faster-than-grafana", "allow an interval under Grafana's 10 s minimum (or "
               "not a multiple of 10 s)", boolean=True, default=False),
        *INFLUX_OPTIONS,
        Option("--webhook-url", "full webhook endpoint, e.g. http://127.0.0.1:5000/alert",
               metavar="URL", default_text="the contact point's"),
        Option("--webhook-user", "basic auth user", metavar="USER"),
        Option("--webhook-password", "basic auth password (visible in the process list: "
               "prefer --webhook-password-file)", secret=True, env=ENV_WEBHOOK_PASSWORD,
               file_flag="--webhook-password-file", metavar="PASSWORD",
               file_help="file whose first line is the basic auth password"),
        Option("--provisioning-dir", "Grafana provisioning directory", metavar="DIR",
               old_flags=("--provisioning",), default_text="the packaged one"),
        Option("--rule", "uid of the only rule to evaluate", metavar="UID",
               default_text="every provisioned rule"),
        Option("--legacy", "post the legacy (Grafana <= 10) payload", boolean=True,
               default=False),
        Option("--duration", "stop after this many seconds", type=number,
               default_text="run until Ctrl-C"),
        Option("--check", "load the provisioning files, print the rules, exit", boolean=True,
               default=False),
        LOG_LEVEL,
        LOG_FORMAT.with_default("text"),
    ],
)  # fmt: skip


def main(argv: list[str]) -> int:
    """Run the evaluator; 2 for bad usage or settings."""
    try:
        args = COMMAND.parse(argv)
        configure_logging(args.log_level, args.log_format)
        provisioning = args.provisioning_dir or str(default_provisioning_dir())
        rules = [load_rule(provisioning, args.rule)] if args.rule else load_rules(provisioning)
        if args.check:
            for rule in rules:
                print(_describe(rule))
            return 0
        influx = influx_from(args)
        evaluator = AlertEvaluator(
            influx,
            args.webhook_url,
            args.webhook_user or "",
            args.webhook_password or "",
            rules=rules,
            interval=args.interval,
            faster_than_grafana=args.faster_than_grafana,
            payload="legacy" if args.legacy else "unified",
            provisioning_dir=provisioning,
        )
    except AlertloopError as exc:
        print(f"{COMMAND.prog}: {exc}", file=sys.stderr)
        return 2
    faster = " (faster than Grafana)" if args.faster_than_grafana else ""
    titles = ", ".join(r.title for r in rules)
    print(f"evaluating {titles} every {evaluator.interval:g} s{faster} on {influx.url}/{influx.database}, "
          f"notifying {evaluator.webhook_url}", flush=True)  # fmt: skip
    done = threading.Event()
    try:
        with evaluator:
            done.wait(args.duration)
    except KeyboardInterrupt:
        pass
    print(f"stopped in state {evaluator.state.value} after {len(evaluator.history)} evaluations")
    return 0


def _describe(rule: AlertRule) -> str:
    return (
        f"rule {rule.uid} ({rule.title}): {rule.reduce.reducer} of [{rule.query.query}] over "
        f"{rule.window:g} s, {rule.threshold.type} {rule.threshold_value:g}, every {rule.interval:g} s, "
        f"for {rule.for_seconds:g} s, noData={rule.no_data_state}, execErr={rule.exec_err_state}, "
        f"labels={rule.labels}"
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
