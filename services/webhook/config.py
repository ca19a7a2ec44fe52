"""The webhook's configuration: a validated dataclass, built from flags, then ``ALERTLOOP_*``, then defaults."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from alertloop.services.common.config import (
    DEFAULT_MQTT_URL,
    ENV_MQTT_PASSWORD,
    ENV_MQTT_PASSWORD_FILE,
    ENV_MQTT_URL,
    MqttSettings,
    add_mqtt_tls_arguments,
    mqtt_settings_from_args,
    redacted_repr,
    setting,
)
from alertloop.services.common.mqtt import new_client_id
from alertloop.services.webhook.errors import WebhookConfigError
from alertloop.services.webhook.passwords import load_users_file, parse_users
from alertloop.services.webhook.payloads import LEGACY_CONFIGURABLE, Action, Policy
from alertloop.services.webhook.selector import Selector, build_selector

ENV_BIND = "ALERTLOOP_WEBHOOK_BIND"
ENV_TOPIC = "ALERTLOOP_ALERT_TOPIC"
ENV_QOS = "ALERTLOOP_ALERT_QOS"
ENV_USERS = "ALERTLOOP_WEBHOOK_USERS"
ENV_USERS_FILE = "ALERTLOOP_WEBHOOK_USERS_FILE"
ENV_INSECURE = "ALERTLOOP_WEBHOOK_INSECURE_PLAINTEXT_USERS"
ENV_NODATA = "ALERTLOOP_WEBHOOK_NODATA_ACTION"
ENV_ERROR = "ALERTLOOP_WEBHOOK_ERROR_ACTION"
ENV_LEGACY = "ALERTLOOP_WEBHOOK_LEGACY_ACTIONS"
ENV_TIMEOUT = "ALERTLOOP_WEBHOOK_PUBLISH_TIMEOUT"
ENV_MAX_BODY = "ALERTLOOP_WEBHOOK_MAX_BODY"
ENV_THREADS = "ALERTLOOP_WEBHOOK_THREADS"
ENV_MATCH = "ALERTLOOP_WEBHOOK_MATCH"
ENV_LEGACY_RULES = "ALERTLOOP_WEBHOOK_LEGACY_RULES"
ENV_ACCEPT_TEST = "ALERTLOOP_WEBHOOK_ACCEPT_TEST_NOTIFICATIONS"
ENV_PROVISIONING = "ALERTLOOP_WEBHOOK_PROVISIONING_DIR"
# Connection limits of the HTTP front (services/webhook/httpfront.py).
ENV_MAX_CONNECTIONS = "ALERTLOOP_WEBHOOK_MAX_CONNECTIONS"
ENV_MAX_PER_CLIENT = "ALERTLOOP_WEBHOOK_MAX_CONNECTIONS_PER_CLIENT"
ENV_HEADER_TIMEOUT = "ALERTLOOP_WEBHOOK_HEADER_TIMEOUT"
ENV_BODY_TIMEOUT = "ALERTLOOP_WEBHOOK_BODY_TIMEOUT"
ENV_IDLE_TIMEOUT = "ALERTLOOP_WEBHOOK_IDLE_TIMEOUT"

DEFAULT_BIND = "127.0.0.1:5000"
DEFAULT_TOPIC = "/alert"


@dataclass(frozen=True)
class WebhookConfig:
    """Everything the webhook service needs; ``validate()`` says what is wrong."""

    mqtt: MqttSettings
    users: Mapping[str, str] = field(default_factory=dict)
    bind: str = DEFAULT_BIND
    topic: str = DEFAULT_TOPIC
    qos: int = 1
    insecure_plaintext_users: bool = False
    policy: Policy = field(default_factory=Policy)
    selector: Selector = field(default_factory=build_selector)
    publish_timeout: float = 5.0
    max_body_bytes: int = 1024 * 1024
    threads: int = 8
    client_id: str = field(default_factory=lambda: new_client_id("alertloop-webhook"))
    # Connection limits of the HTTP front.
    max_connections: int = 2048
    max_connections_per_client: int = 128
    header_timeout: float = 10.0
    body_timeout: float = 10.0
    idle_timeout: float = 60.0

    def __repr__(self) -> str:
        """Without secrets: user names only, the broker password as ``***``."""
        return redacted_repr(self, users=sorted(self.users))

    @property
    def host(self) -> str:
        return self.bind.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.bind.rpartition(":")[2])

    def validate(self) -> WebhookConfig:
        """Return self when usable; raises WebhookConfigError saying what is not."""
        host, sep, port = self.bind.rpartition(":")
        if not sep or not host or not port.isdigit() or int(port) > 65535:
            raise WebhookConfigError(f"bind {self.bind!r}: expected HOST:PORT")
        if not self.topic or "+" in self.topic or "#" in self.topic:
            raise WebhookConfigError(f"topic {self.topic!r}: must be non-empty, without wildcards")
        if self.qos not in (0, 1, 2):
            raise WebhookConfigError(f"qos {self.qos}: must be 0, 1 or 2")
        if self.publish_timeout <= 0 or self.max_body_bytes <= 0 or self.threads <= 0:
            raise WebhookConfigError("publish timeout, body limit and threads must be positive")
        limits = (
            self.max_connections,
            self.max_connections_per_client,
            self.header_timeout,
            self.body_timeout,
            self.idle_timeout,
        )
        if min(limits) <= 0:
            raise WebhookConfigError("connection limits and timeouts must be positive")
        if not self.users and not self.insecure_plaintext_users:
            raise WebhookConfigError(
                f"no users: give --users-file or {ENV_USERS} (make hashes with "
                "'alertloop hash-password'), or run with --insecure-plaintext-users for tests"
            )
        return self


def _action(text: str) -> Action:
    try:
        return Action(text.strip().lower())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected one of {', '.join(a.value for a in Action)}"
        ) from None


def _legacy_actions(entries: Sequence[str]) -> dict[str, Action]:
    actions = {state: Action.IGNORE for state in LEGACY_CONFIGURABLE}
    for entry in entries:
        state, sep, action = entry.strip().partition("=")
        if not sep or state not in LEGACY_CONFIGURABLE:
            raise WebhookConfigError(
                f"legacy action {entry!r}: expected STATE=ACTION with STATE one of "
                f"{', '.join(LEGACY_CONFIGURABLE)}"
            )
        try:
            actions[state] = _action(action)
        except argparse.ArgumentTypeError as exc:
            raise WebhookConfigError(f"legacy action {entry!r}: {exc}") from None
    return actions


def build_parser() -> argparse.ArgumentParser:
    """The ``alertloop webhook`` argument parser."""
    p = argparse.ArgumentParser(
        prog="alertloop webhook",
        description="Turn Grafana alert notifications into a retained MQTT message (1/0).",
    )
    p.add_argument("--bind", help=f"HOST:PORT to listen on (${ENV_BIND}, default {DEFAULT_BIND})")
    p.add_argument(
        "--mqtt-url",
        help=f"broker URL, mqtt[s]://user@host:port (${ENV_MQTT_URL}); a password in it is "
        "visible to every user in the process list: use --mqtt-password-file instead",
    )
    p.add_argument(
        "--mqtt-password-file",
        metavar="FILE",
        help=f"file whose first line is the broker password (${ENV_MQTT_PASSWORD_FILE}, "
        f"or the password itself in ${ENV_MQTT_PASSWORD})",
    )
    add_mqtt_tls_arguments(p)
    p.add_argument("--topic", help=f"topic to publish on (${ENV_TOPIC}, default {DEFAULT_TOPIC})")
    p.add_argument(
        "--qos", type=int, choices=(0, 1, 2), help=f"publish QoS (${ENV_QOS}, default 1)"
    )
    p.add_argument("--users-file", help=f"htpasswd-style 'user:hash' lines (${ENV_USERS_FILE})")
    p.add_argument(
        "--insecure-plaintext-users",
        action="store_true",
        help=f"TEST MODE: accept plain-text passwords, or no users at all (${ENV_INSECURE}=1)",
    )
    p.add_argument(
        "--nodata-action",
        type=_action,
        help=f"DatasourceNoData alerts: ignore|alerting|ok (${ENV_NODATA}, default ignore)",
    )
    p.add_argument(
        "--error-action",
        type=_action,
        help=f"DatasourceError alerts: ignore|alerting|ok (${ENV_ERROR}, default ignore)",
    )
    p.add_argument(
        "--legacy-action",
        action="append",
        default=[],
        metavar="STATE=ACTION",
        help=f"legacy no_data|pending|paused|unknown -> ignore|alerting|ok, repeatable (${ENV_LEGACY}, comma-separated; default ignore)",
    )
    p.add_argument(
        "--match",
        action="append",
        default=[],
        metavar="LABEL=VALUE",
        help=f"count only alerts with these labels, repeatable (${ENV_MATCH}, comma-separated; "
        "default: the provisioned rule's alertname and labels)",
    )
    p.add_argument(
        "--provisioning-dir",
        help=f"Grafana provisioning directory the default selector is read from (${ENV_PROVISIONING}, "
        "default: the package's services/grafana/provisioning)",
    )
    p.add_argument(
        "--legacy-rule",
        action="append",
        default=[],
        metavar="NAME_OR_ID",
        help=f"count only these legacy rules, repeatable (${ENV_LEGACY_RULES}, comma-separated; "
        "default: every legacy rule)",
    )
    p.add_argument(
        "--accept-test-notifications",
        action="store_true",
        help=f"publish the contact point's test notifications too (${ENV_ACCEPT_TEST}=1; "
        "default: answered 200 and ignored)",
    )
    p.add_argument(
        "--publish-timeout",
        type=float,
        help=f"seconds to wait for the broker's ack (${ENV_TIMEOUT}, default 5)",
    )
    p.add_argument(
        "--max-body",
        type=int,
        help=f"largest accepted body in bytes (${ENV_MAX_BODY}, default 1 MiB)",
    )
    p.add_argument("--threads", type=int, help=f"HTTP worker threads (${ENV_THREADS}, default 8)")
    limits = p.add_argument_group("connection limits (slow or idle clients)")
    limits.add_argument(
        "--max-connections",
        type=int,
        help=f"open connections in all (${ENV_MAX_CONNECTIONS}, default 2048)",
    )
    limits.add_argument(
        "--max-connections-per-client",
        type=int,
        help=f"open connections of one client address; at a cap a new connection replaces the "
        f"least recently used idle or unauthenticated one (${ENV_MAX_PER_CLIENT}, default 128)",
    )
    limits.add_argument(
        "--header-timeout",
        type=float,
        help=f"seconds to send the request headers, else 408 (${ENV_HEADER_TIMEOUT}, default 10)",
    )
    limits.add_argument(
        "--body-timeout",
        type=float,
        help=f"seconds to send the body once accepted, else 408 (${ENV_BODY_TIMEOUT}, default 10)",
    )
    limits.add_argument(
        "--idle-timeout",
        type=float,
        help=f"seconds a kept-alive connection may wait for its next request (${ENV_IDLE_TIMEOUT}, default 60)",
    )
    p.add_argument("--log-level", default=os.environ.get("ALERTLOOP_LOG_LEVEL", "INFO"))
    p.add_argument(
        "--log-format",
        choices=("json", "text"),
        default=os.environ.get("ALERTLOOP_LOG_FORMAT", "json"),
    )
    return p


def _number(flag: object, env: str, default: str, kind: type[int] | type[float]) -> int | float:
    text = str(flag) if flag is not None else (setting(None, env, default) or default)
    try:
        return kind(text)
    except (TypeError, ValueError):
        raise WebhookConfigError(f"{env}={text!r}: not a {kind.__name__}") from None


def _env_list(name: str) -> list[str]:
    return [e for e in os.environ.get(name, "").split(",") if e.strip()]


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes")


def config_from_args(args: argparse.Namespace) -> WebhookConfig:
    """A validated config from parsed flags and the environment.

    Raises WebhookConfigError (or the common ConfigError for a bad MQTT URL) when unusable.
    """
    users: dict[str, str] = {}
    users_file = setting(args.users_file, ENV_USERS_FILE)
    if users_file:
        users.update(load_users_file(users_file))
    env_users = os.environ.get(ENV_USERS, "")
    for name, secret in parse_users(env_users.split(","), f"${ENV_USERS}").items():
        if name in users:
            raise WebhookConfigError(f"user {name!r} is both in the users file and ${ENV_USERS}")
        users[name] = secret
    insecure = args.insecure_plaintext_users or _env_flag(ENV_INSECURE)
    legacy = list(args.legacy_action) or [
        e for e in os.environ.get(ENV_LEGACY, "").split(",") if e.strip()
    ]
    try:
        nodata = args.nodata_action or _action(os.environ.get(ENV_NODATA, "ignore"))
        error = args.error_action or _action(os.environ.get(ENV_ERROR, "ignore"))
    except argparse.ArgumentTypeError as exc:
        raise WebhookConfigError(f"{ENV_NODATA}/{ENV_ERROR}: {exc}") from None
    match = list(args.match) or _env_list(ENV_MATCH)
    legacy_rules = list(args.legacy_rule) or _env_list(ENV_LEGACY_RULES)
    accept_test = args.accept_test_notifications or _env_flag(ENV_ACCEPT_TEST)
    selector = build_selector(
        match, legacy_rules, accept_test, setting(args.provisioning_dir, ENV_PROVISIONING)
    )
    return WebhookConfig(
        selector=selector,
        mqtt=mqtt_settings_from_args(
            setting(args.mqtt_url, ENV_MQTT_URL, DEFAULT_MQTT_URL) or "", args
        ),
        users=users,
        bind=setting(args.bind, ENV_BIND, DEFAULT_BIND) or DEFAULT_BIND,
        topic=setting(args.topic, ENV_TOPIC, DEFAULT_TOPIC) or DEFAULT_TOPIC,
        qos=int(_number(args.qos, ENV_QOS, "1", int)),
        insecure_plaintext_users=insecure,
        policy=Policy(nodata=nodata, error=error, legacy=_legacy_actions(legacy)),
        publish_timeout=float(_number(args.publish_timeout, ENV_TIMEOUT, "5", float)),
        max_body_bytes=int(_number(args.max_body, ENV_MAX_BODY, str(1024 * 1024), int)),
        threads=int(_number(args.threads, ENV_THREADS, "8", int)),
        **_limits_from_args(args),
    ).validate()


def _limits_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The HTTP front's connection limits from flags, then the environment, then defaults."""
    return {
        "max_connections": int(_number(args.max_connections, ENV_MAX_CONNECTIONS, "2048", int)),
        "max_connections_per_client": int(
            _number(args.max_connections_per_client, ENV_MAX_PER_CLIENT, "128", int)
        ),
        "header_timeout": float(_number(args.header_timeout, ENV_HEADER_TIMEOUT, "10", float)),
        "body_timeout": float(_number(args.body_timeout, ENV_BODY_TIMEOUT, "10", float)),
        "idle_timeout": float(_number(args.idle_timeout, ENV_IDLE_TIMEOUT, "60", float)),
    }
