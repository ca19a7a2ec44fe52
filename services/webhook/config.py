"""The webhook's configuration: a validated dataclass, and its options (flags, then
``ALERTLOOP_WEBHOOK_*`` and the shared ``ALERTLOOP_MQTT_*`` variables, then defaults)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from alertloop.services.common.commands import Command
from alertloop.services.common.config import (
    LOG_OPTIONS,
    MQTT_OPTIONS,
    MqttSettings,
    mqtt_from,
    redacted_repr,
)
from alertloop.services.common.mqtt import new_client_id
from alertloop.services.common.settings import Option, Values, integer, number, positive
from alertloop.services.webhook.errors import WebhookConfigError
from alertloop.services.webhook.passwords import parse_users
from alertloop.services.webhook.payloads import LEGACY_CONFIGURABLE, Action, Policy
from alertloop.services.webhook.selector import Selector, build_selector

ENV_USERS = "ALERTLOOP_WEBHOOK_USERS"
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
        raise ValueError(
            f"{text!r}: expected one of {', '.join(a.value for a in Action)}"
        ) from None


def _legacy_actions(entries: Sequence[str], source: str) -> dict[str, Action]:
    actions = {state: Action.IGNORE for state in LEGACY_CONFIGURABLE}
    for entry in entries:
        state, sep, action = entry.strip().partition("=")
        if not sep or state not in LEGACY_CONFIGURABLE:
            raise WebhookConfigError(
                f"{source}: legacy action {entry!r}: expected STATE=ACTION with STATE one of "
                f"{', '.join(LEGACY_CONFIGURABLE)}"
            )
        try:
            actions[state] = _action(action)
        except ValueError as exc:
            raise WebhookConfigError(f"{source}: legacy action {entry!r}: {exc}") from None
    return actions


_LIMITS = "connection limits (slow or idle clients)"
ACTIONS = "ignore|alerting|ok"
OPTIONS = (
    Option("--bind", "HOST:PORT to listen on", default=DEFAULT_BIND, metavar="HOST:PORT"),
    *MQTT_OPTIONS,
    Option("--topic", "topic to publish on", default=DEFAULT_TOPIC,
           old_env=("ALERTLOOP_ALERT_TOPIC",)),
    Option("--qos", "publish QoS", type=integer, choices=(0, 1, 2), default=1,
           old_env=("ALERTLOOP_ALERT_QOS",)),
    Option(None, "htpasswd-style file of users, one 'user:hash' a line; ALERTLOOP_WEBHOOK_USERS "
           "takes the same entries comma-separated, and both are read; make hashes with "
           "'alertloop hash-password'", secret=True,
           file_flag="--users-file", whole_file=True, dest="users"),
    Option("--insecure-plaintext-users", "TEST MODE: accept plain-text passwords, or no users "
           "at all", boolean=True, default=False),
    Option("--nodata-action", f"DatasourceNoData alerts: {ACTIONS}", type=_action,
           default=Action.IGNORE, metavar="ACTION", default_text="ignore"),
    Option("--error-action", f"DatasourceError alerts: {ACTIONS}", type=_action,
           default=Action.IGNORE, metavar="ACTION", default_text="ignore"),
    Option("--legacy-action", f"legacy no_data|pending|paused|unknown -> {ACTIONS}, "
           "repeatable (variable: comma-separated)", multiple=True, default=[],
           metavar="STATE=ACTION", default_text="ignore",
           old_env=("ALERTLOOP_WEBHOOK_LEGACY_ACTIONS",)),
    Option("--match", "count only alerts with these labels, repeatable (variable: "
           "comma-separated)", multiple=True, default=[], metavar="LABEL=VALUE",
           default_text="the provisioned rule's alertname and labels"),
    Option("--provisioning-dir", "Grafana provisioning directory the default selector is read "
           "from", metavar="DIR", default_text="the package's services/grafana/provisioning"),
    Option("--legacy-rule", "count only these legacy rules, repeatable (variable: "
           "comma-separated)", multiple=True, default=[], metavar="NAME_OR_ID",
           default_text="every legacy rule", old_env=("ALERTLOOP_WEBHOOK_LEGACY_RULES",)),
    Option("--accept-test-notifications", "publish the contact point's test notifications too "
           "(else answered 200 and ignored)", boolean=True, default=False),
    Option("--publish-timeout", "seconds to wait for the broker's ack", type=number, default=5.0,
           check=positive),
    Option("--max-body", "largest accepted body in bytes", type=integer, default=1024 * 1024,
           check=positive),
    Option("--threads", "HTTP worker threads", type=integer, default=8, check=positive),
    Option("--max-connections", "open connections in all", type=integer, default=2048,
           check=positive, group=_LIMITS),
    Option("--max-connections-per-client", "open connections of one client address; at a cap a "
           "new connection replaces the least recently used idle or unauthenticated one",
           type=integer, default=128, check=positive, group=_LIMITS),
    Option("--header-timeout", "seconds to send the request headers, else 408", type=number,
           default=10.0, check=positive, group=_LIMITS),
    Option("--body-timeout", "seconds to send the body once accepted, else 408", type=number,
           default=10.0, check=positive, group=_LIMITS),
    Option("--idle-timeout", "seconds a kept-alive connection may wait for its next request",
           type=number, default=60.0, check=positive, group=_LIMITS),
    *LOG_OPTIONS,
)  # fmt: skip
COMMAND = Command(
    "alertloop webhook",
    "Turn Grafana alert notifications into a retained MQTT message (1/0).",
    OPTIONS,
)


def build_parser() -> argparse.ArgumentParser:
    """The ``alertloop webhook`` argument parser (help and usage errors)."""
    return COMMAND.parser()


def parse(argv: Sequence[str]) -> Values:
    """Flags, then variables, then defaults. Raises ConfigError naming the flag or variable."""
    return COMMAND.parse(argv)


def _users(values: Values) -> dict[str, str]:
    """The users of ``--users-file`` (or ``ALERTLOOP_WEBHOOK_USERS_FILE``) and of
    ``ALERTLOOP_WEBHOOK_USERS``; the file's users and the variable's are merged."""
    users: dict[str, str] = {}
    text = values.users
    if text is None:
        return users
    source = values.source("users")
    if source.endswith("FILE") or source.startswith("--"):
        users.update(parse_users(text.splitlines(), source))
        inline = os.environ.get(ENV_USERS, "")
    else:
        inline = text
    for name, secret in parse_users(inline.split(","), ENV_USERS).items():
        if name in users:
            raise WebhookConfigError(f"user {name!r} is both in {source} and {ENV_USERS}")
        users[name] = secret
    return users


def config_from_args(values: Values) -> WebhookConfig:
    """A validated config from resolved options.

    Raises WebhookConfigError (or the common ConfigError for a bad MQTT URL) when unusable,
    naming the flag or variable at fault.
    """
    selector = build_selector(
        values.match, values.legacy_rule, values.accept_test_notifications,
        values.provisioning_dir,
    )  # fmt: skip
    legacy = _legacy_actions(values.legacy_action, values.source("legacy_action"))
    config = WebhookConfig(
        selector=selector,
        mqtt=mqtt_from(values),
        users=_users(values),
        bind=values.bind,
        topic=values.topic,
        qos=values.qos,
        insecure_plaintext_users=values.insecure_plaintext_users,
        policy=Policy(nodata=values.nodata_action, error=values.error_action, legacy=legacy),
        publish_timeout=values.publish_timeout,
        max_body_bytes=values.max_body,
        threads=values.threads,
        max_connections=values.max_connections,
        max_connections_per_client=values.max_connections_per_client,
        header_timeout=values.header_timeout,
        body_timeout=values.body_timeout,
        idle_timeout=values.idle_timeout,
    )
    try:
        return config.validate()
    except WebhookConfigError as exc:
        field_of = {"bind": "bind", "topic": "topic"}
        for word, name in field_of.items():
            if str(exc).startswith(word) and values.given(name):
                raise values.error(name, str(exc)) from None
        raise
