"""Flags, environment and validation of the webhook's configuration."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from alertloop.services.common.errors import ConfigError
from alertloop.services.webhook.config import WebhookConfig, build_parser, config_from_args, parse
from alertloop.services.webhook.errors import WebhookConfigError
from alertloop.services.webhook.passwords import hash_password
from alertloop.services.webhook.payloads import Action

HASH = hash_password("pw", "pbkdf2:sha256:1000")


def _config(argv: list[str]) -> WebhookConfig:
    return config_from_args(parse(argv))


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("ALERTLOOP_"):
            monkeypatch.delenv(name)


def test_defaults_with_env_users(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALERTLOOP_WEBHOOK_USERS", f"grafana:{HASH},ops:{HASH}")
    cfg = _config([])
    assert (cfg.bind, cfg.topic, cfg.qos, cfg.host, cfg.port) == (
        "127.0.0.1:5000",
        "/alert",
        1,
        "127.0.0.1",
        5000,
    )
    assert cfg.mqtt.url == "mqtt://127.0.0.1:1883"
    assert set(cfg.users) == {"grafana", "ops"}
    assert (
        cfg.policy.nodata is Action.IGNORE and cfg.policy.legacy_action("no_data") is Action.IGNORE
    )


def test_flags_beat_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    users = tmp_path / "users"
    users.write_text(f"grafana:{HASH}\n")
    monkeypatch.setenv("ALERTLOOP_WEBHOOK_TOPIC", "/env")
    monkeypatch.setenv("ALERTLOOP_MQTT_URL", "mqtt://env:1883")
    monkeypatch.setenv("ALERTLOOP_WEBHOOK_LEGACY_ACTION", "paused=ok")
    cfg = _config(
        [
            "--users-file",
            str(users),
            "--topic",
            "/flag",
            "--qos",
            "2",
            "--bind",
            "0.0.0.0:8080",
            "--mqtt-url",
            "mqtts://u:p@broker:8883",
            "--nodata-action",
            "alerting",
            "--legacy-action",
            "no_data=alerting",
        ]
    )
    assert (cfg.topic, cfg.qos, cfg.bind) == ("/flag", 2, "0.0.0.0:8080")
    assert (cfg.mqtt.host, cfg.mqtt.tls, cfg.mqtt.username) == ("broker", True, "u")
    assert cfg.policy.nodata is Action.ALERTING
    assert cfg.policy.legacy_action("no_data") is Action.ALERTING
    assert cfg.policy.legacy_action("paused") is Action.IGNORE


def test_env_actions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALERTLOOP_WEBHOOK_USERS", f"grafana:{HASH}")
    monkeypatch.setenv("ALERTLOOP_WEBHOOK_LEGACY_ACTION", "paused=ok, no_data=alerting")
    monkeypatch.setenv("ALERTLOOP_WEBHOOK_ERROR_ACTION", "OK")
    cfg = _config([])
    assert cfg.policy.legacy_action("paused") is Action.OK
    assert cfg.policy.legacy_action("no_data") is Action.ALERTING
    assert cfg.policy.error is Action.OK


def test_refuses_to_start_without_users_unless_test_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(WebhookConfigError, match="no users"):
        _config([])
    assert _config(["--insecure-plaintext-users"]).users == {}
    monkeypatch.setenv("ALERTLOOP_WEBHOOK_INSECURE_PLAINTEXT_USERS", "1")
    assert _config([]).insecure_plaintext_users


@pytest.mark.parametrize(
    "argv",
    [
        ["--bind", "nohost"],
        ["--bind", "127.0.0.1:99999"],
        ["--topic", "/alert/#"],
        ["--legacy-action", "alerting=ok"],
        ["--legacy-action", "no_data=maybe"],
        ["--publish-timeout", "0"],
        ["--mqtt-url", "http://x"],
    ],
    ids=["bind", "port", "wildcard", "legacy-state", "legacy-action", "timeout", "url"],
)
def test_bad_values(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALERTLOOP_WEBHOOK_USERS", f"grafana:{HASH}")
    with pytest.raises(ConfigError):
        _config(argv)


def test_bad_env_number(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALERTLOOP_WEBHOOK_USERS", f"grafana:{HASH}")
    monkeypatch.setenv("ALERTLOOP_WEBHOOK_QOS", "one")
    with pytest.raises(ConfigError, match="ALERTLOOP_WEBHOOK_QOS: expected an integer"):
        _config([])


def test_the_old_alert_variables_still_work_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ALERTLOOP_WEBHOOK_USERS", f"grafana:{HASH}")
    monkeypatch.setenv("ALERTLOOP_ALERT_TOPIC", "/old")
    monkeypatch.setenv("ALERTLOOP_ALERT_QOS", "0")
    cfg = _config([])
    assert (cfg.topic, cfg.qos) == ("/old", 0)
    err = capsys.readouterr().err
    assert "ALERTLOOP_ALERT_TOPIC is deprecated; use ALERTLOOP_WEBHOOK_TOPIC" in err
    assert "ALERTLOOP_ALERT_QOS is deprecated; use ALERTLOOP_WEBHOOK_QOS" in err


def test_bad_action_flag_names_the_flag() -> None:
    with pytest.raises(ConfigError, match="--nodata-action: 'explode': expected one of"):
        parse(["--nodata-action", "explode"])


def test_selector_defaults_to_the_provisioned_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALERTLOOP_WEBHOOK_USERS", f"grafana:{HASH}")
    selector = _config([]).selector
    assert selector.label_sets == ({"alertname": "PotMeanHigh", "loop": "alertloop"},)
    assert not selector.legacy_rules and not selector.accept_test


def test_selector_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALERTLOOP_WEBHOOK_USERS", f"grafana:{HASH}")
    monkeypatch.setenv("ALERTLOOP_WEBHOOK_MATCH", "alertname=FromEnv")
    argv = ["--match", "alertname=Memory (copy)", "--match", "debug=true"]
    argv += ["--legacy-rule", "4", "--legacy-rule", "pot high", "--accept-test-notifications"]
    selector = _config(argv).selector
    assert selector.label_sets == ({"alertname": "Memory (copy)", "debug": "true"},)
    assert selector.legacy_rules == {"4", "pot high"} and selector.accept_test


def test_selector_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALERTLOOP_WEBHOOK_USERS", f"grafana:{HASH}")
    monkeypatch.setenv("ALERTLOOP_WEBHOOK_MATCH", "loop=alertloop,site=lab")
    monkeypatch.setenv("ALERTLOOP_WEBHOOK_LEGACY_RULE", "3,pot")
    monkeypatch.setenv("ALERTLOOP_WEBHOOK_ACCEPT_TEST_NOTIFICATIONS", "1")
    selector = _config([]).selector
    assert selector.label_sets == ({"loop": "alertloop", "site": "lab"},)
    assert selector.legacy_rules == {"3", "pot"} and selector.accept_test


def test_bad_selector_settings_are_config_errors(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("ALERTLOOP_WEBHOOK_USERS", f"grafana:{HASH}")
    with pytest.raises(WebhookConfigError, match="LABEL=VALUE"):
        _config(["--match", "loop"])
    with pytest.raises(WebhookConfigError, match="does not exist"):
        _config(["--provisioning-dir", str(tmp_path / "missing")])


SECRET = "Sup3r-s3cret"


def test_repr_shows_no_password_and_no_hash(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALERTLOOP_WEBHOOK_USERS", f"grafana:{HASH}")
    cfg = _config(["--mqtt-url", f"mqtt://hook:{SECRET}@broker:1883"])
    assert cfg.mqtt.password == SECRET
    text = repr(cfg)
    assert SECRET not in text and HASH.split("$")[2] not in text and HASH not in text
    assert "users=['grafana']" in text and "password=***" in text


def test_mqtt_password_file_flag_and_help(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ALERTLOOP_WEBHOOK_USERS", f"grafana:{HASH}")
    secret_file = tmp_path / "mqtt-password"
    secret_file.write_text(SECRET + "\n")
    cfg = _config(["--mqtt-url", "mqtt://hook@broker", "--mqtt-password-file", str(secret_file)])
    assert (cfg.mqtt.username, cfg.mqtt.password) == ("hook", SECRET)
    monkeypatch.setenv("ALERTLOOP_MQTT_PASSWORD", SECRET)
    assert _config(["--mqtt-url", "mqtt://hook@broker"]).mqtt.password == SECRET
    text = " ".join(build_parser().format_help().split())
    assert "--mqtt-password-file" in text and "ALERTLOOP_MQTT_PASSWORD" in text
    assert "process list" in text


@pytest.mark.parametrize(
    "url",
    [f"mqtt://hook:{SECRET}@broker:notaport", f"http://hook:{SECRET}@broker"],
    ids=["port", "scheme"],
)
def test_cli_config_errors_never_print_the_password(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], url: str
) -> None:
    from alertloop.services.webhook.cli import main

    monkeypatch.setenv("ALERTLOOP_WEBHOOK_USERS", f"grafana:{HASH}")
    assert main(["--mqtt-url", url, "--log-format", "text"]) == 2
    captured = capsys.readouterr()
    assert "MQTT URL" in captured.err and "hook:***@broker" in captured.err
    assert SECRET not in captured.err + captured.out


def test_connection_limits_from_flags_and_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALERTLOOP_WEBHOOK_USERS", f"grafana:{HASH}")
    cfg = _config([])
    assert (cfg.max_connections, cfg.max_connections_per_client) == (2048, 128)
    assert (cfg.header_timeout, cfg.body_timeout, cfg.idle_timeout) == (10.0, 10.0, 60.0)
    monkeypatch.setenv("ALERTLOOP_WEBHOOK_MAX_CONNECTIONS_PER_CLIENT", "16")
    monkeypatch.setenv("ALERTLOOP_WEBHOOK_HEADER_TIMEOUT", "2.5")
    cfg = _config(["--max-connections", "100", "--body-timeout", "3"])
    assert (cfg.max_connections, cfg.max_connections_per_client) == (100, 16)
    assert (cfg.header_timeout, cfg.body_timeout) == (2.5, 3.0)
    with pytest.raises(ConfigError, match="--header-timeout: must be positive"):
        _config(["--header-timeout", "0"])
