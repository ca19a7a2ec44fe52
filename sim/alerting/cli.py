"""``alertloop sim alerting``: run the simulated Grafana alert evaluator against given URLs."""

from __future__ import annotations

import argparse
import sys
import threading

from alertloop.services.common.config import (
    DEFAULT_INFLUX_DB,
    DEFAULT_INFLUX_URL,
    ENV_INFLUX_DB,
    ENV_INFLUX_URL,
    InfluxSettings,
    setting,
)
from alertloop.services.common.errors import AlertloopError
from alertloop.services.common.logs import configure_logging
from alertloop.sim.alerting.evaluator import (
    ENV_WEBHOOK_PASSWORD,
    ENV_WEBHOOK_URL,
    ENV_WEBHOOK_USER,
    AlertEvaluator,
)
from alertloop.sim.alerting.provisioning import (
    AlertRule,
    default_provisioning_dir,
    load_rule,
    load_rules,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="alertloop sim alerting",
        description=(
            "Evaluate every provisioned Grafana alert rule against InfluxDB and post Grafana's "
            "webhook payload on the notification policy's ticks. Flags first, then ALERTLOOP_* "
            "variables."
        ),
    )
    parser.add_argument(
        "--interval", type=float, help="seconds between evaluations (default: each rule's, 10)"
    )
    parser.add_argument(
        "--faster-than-grafana",
        action="store_true",
        help="allow an interval under Grafana's 10 s minimum (or not a multiple of 10 s)",
    )
    parser.add_argument(
        "--influx-url", help=f"InfluxDB URL (${ENV_INFLUX_URL}, default {DEFAULT_INFLUX_URL})"
    )
    parser.add_argument(
        "--influx-db", help=f"database (${ENV_INFLUX_DB}, default {DEFAULT_INFLUX_DB})"
    )
    parser.add_argument(
        "--webhook-url",
        help=f"full webhook endpoint, e.g. http://127.0.0.1:5000/alert (${ENV_WEBHOOK_URL})",
    )
    parser.add_argument("--webhook-user", help=f"basic auth user (${ENV_WEBHOOK_USER})")
    parser.add_argument("--webhook-password", help=f"basic auth password (${ENV_WEBHOOK_PASSWORD})")
    parser.add_argument(
        "--provisioning", help="Grafana provisioning directory (default: the packaged one)"
    )
    parser.add_argument(
        "--rule", help="uid of the only rule to evaluate (default: every provisioned rule)"
    )
    parser.add_argument(
        "--legacy", action="store_true", help="post the legacy (Grafana <= 10) payload"
    )
    parser.add_argument(
        "--duration", type=float, help="stop after this many seconds (default: run until Ctrl-C)"
    )
    parser.add_argument(
        "--check", action="store_true", help="load the provisioning files, print the rule, exit"
    )
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument("--log-format", choices=("json", "text"), default="text")
    return parser


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.log_level, args.log_format)
    provisioning = args.provisioning or str(default_provisioning_dir())
    try:
        rules = [load_rule(provisioning, args.rule)] if args.rule else load_rules(provisioning)
        if args.check:
            for rule in rules:
                print(_describe(rule))
            return 0
        influx = InfluxSettings.from_url(
            setting(args.influx_url, ENV_INFLUX_URL, DEFAULT_INFLUX_URL) or DEFAULT_INFLUX_URL,
            database=setting(args.influx_db, ENV_INFLUX_DB, DEFAULT_INFLUX_DB),
        )
        url = setting(args.webhook_url, ENV_WEBHOOK_URL)
        evaluator = AlertEvaluator(
            influx,
            url,
            setting(args.webhook_user, ENV_WEBHOOK_USER, ""),
            setting(args.webhook_password, ENV_WEBHOOK_PASSWORD, ""),
            rules=rules,
            interval=args.interval,
            faster_than_grafana=args.faster_than_grafana,
            payload="legacy" if args.legacy else "unified",
            provisioning_dir=provisioning,
        )
    except AlertloopError as exc:
        print(f"alertloop sim alerting: {exc}", file=sys.stderr)
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
