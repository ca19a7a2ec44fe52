"""IngesterConfig validation and the CLI's flag/environment/default precedence."""

from __future__ import annotations

from pathlib import Path

import pytest

from alertloop.services.common.config import InfluxSettings, MqttSettings
from alertloop.services.common.errors import ConfigError
from alertloop.services.ingester import IngesterConfig
from alertloop.services.ingester.cli import build_parser, config_from_args, main, parse, redact
from alertloop.services.ingester.config import client_lock_path

MQTT = MqttSettings("127.0.0.1", 1883)
INFLUX = InfluxSettings("127.0.0.1", 8086)


def test_defaults_follow_the_seed() -> None:
    cfg = IngesterConfig(MQTT, INFLUX)
    assert (cfg.topics, cfg.measurement, cfg.field, cfg.qos) == (["/pot"], "pot", "value", 1)
    assert (cfg.min_value, cfg.max_value, cfg.influx.database) == (0, 100, "iot")
    assert cfg.spool_path.parts[-2:] == ("ingester", "alertloop-ingester")
    assert cfg.dead_letter_path == cfg.spool_path / "dead-letter.jsonl"


def test_shared_subscriptions_tag_points_with_the_instance() -> None:
    assert IngesterConfig(MQTT, INFLUX).effective_instance_tag is None
    assert IngesterConfig(MQTT, INFLUX, share_group="g").effective_instance_tag == "ingester"
    assert IngesterConfig(MQTT, INFLUX, topics=["$share/g/x"]).effective_instance_tag == "ingester"
    assert IngesterConfig(MQTT, INFLUX, instance_tag="node").effective_instance_tag == "node"
    with pytest.raises(ConfigError):
        IngesterConfig(MQTT, INFLUX, share_group="g", client_id="a\\b")


@pytest.mark.parametrize(
    "overrides",
    [
        {"qos": 3},
        {"client_id": ""},
        {"min_value": 5, "max_value": 1},
        {"batch_size": 0},
        {"measurement": "#pot"},
        {"field": "a\\b"},
        {"topics": []},
        {"topics": ["a/{x"]},
        {"qos": 2},
        {"queue_size": 10, "receive_maximum": 20},
        {"retry_initial": 5.0, "retry_max": 1.0},
    ],
    ids=[
        "qos",
        "client-id",
        "bounds",
        "batch",
        "measurement",
        "field",
        "no-topics",
        "bad-topic",
        "qos-2",
        "queue-below-window",
        "retry",
    ],
)
def test_unusable_values_raise_config_error(overrides: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        IngesterConfig(MQTT, INFLUX, **overrides)  # type: ignore[arg-type]


def test_flags_beat_environment_beats_defaults(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("ALERTLOOP_MQTT_URL", "mqtts://u:p@broker:8884")
    monkeypatch.setenv("ALERTLOOP_INFLUX_URL", "http://db:8087")
    monkeypatch.setenv("ALERTLOOP_INFLUX_DB", "fromenv")
    monkeypatch.setenv("ALERTLOOP_INGEST_TOPIC", "a/{device}/pot, b/pot")
    monkeypatch.setenv("ALERTLOOP_INGEST_BATCH_SIZE", "77")
    monkeypatch.setenv("ALERTLOOP_INGEST_GZIP", "yes")
    args = parse(
        [
            "--influx-db",
            "fromflag",
            "--batch-size",
            "88",
            "--spool-dir",
            str(tmp_path),
            "--qos",
            "0",
        ]
    )
    cfg = config_from_args(args)
    assert (cfg.mqtt.host, cfg.mqtt.port, cfg.mqtt.tls, cfg.mqtt.username) == (
        "broker",
        8884,
        True,
        "u",
    )
    assert (cfg.influx.host, cfg.influx.port, cfg.influx.database) == ("db", 8087, "fromflag")
    assert cfg.topics == ["a/{device}/pot", "b/pot"]
    assert (cfg.batch_size, cfg.gzip, cfg.qos, cfg.spool_dir) == (88, True, 0, tmp_path)


def test_repeated_topic_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ALERTLOOP_INGEST_TOPIC", raising=False)
    cfg = config_from_args(parse(["--topic", "x/pot", "--topic", "y/pot"]))
    assert cfg.topics == ["x/pot", "y/pot"]


def test_bad_number_names_the_flag_or_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="^--batch-size: expected an integer, got 'many'"):
        parse(["--batch-size", "many"])
    monkeypatch.setenv("ALERTLOOP_INGEST_BATCH_SIZE", "lots")
    with pytest.raises(ConfigError, match="^ALERTLOOP_INGEST_BATCH_SIZE: expected an integer"):
        parse([])
    monkeypatch.setenv("ALERTLOOP_INGEST_BATCH_SIZE", "0")
    with pytest.raises(ConfigError, match="^ALERTLOOP_INGEST_BATCH_SIZE: must be positive"):
        parse([])


def test_the_old_names_still_work_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ALERTLOOP_INGEST_TOPICS", "old/pot")
    cfg = config_from_args(parse(["--database", "olddb"]))
    assert (cfg.topics, cfg.influx.database) == (["old/pot"], "olddb")
    err = capsys.readouterr().err
    assert "--database is deprecated; use --influx-db" in err
    assert "ALERTLOOP_INGEST_TOPICS is deprecated; use ALERTLOOP_INGEST_TOPIC" in err
    assert "--database" not in " ".join(build_parser().format_help().split())


def test_main_reports_config_errors(capsys: pytest.CaptureFixture[str]) -> None:
    from alertloop.services.ingester.cli import main

    assert main(["--mqtt-url", "ftp://x", "--log-format", "text"]) == 2
    assert "scheme" in capsys.readouterr().err


def test_repr_and_safe_urls_hide_passwords() -> None:
    cfg = IngesterConfig(
        MqttSettings.from_url("mqtt://ingest:m%40sk3d@broker:1883"),
        InfluxSettings.from_url("http://writer:infl-pw@db:8086", database="iot"),
    )
    shown = repr(cfg)
    assert "m@sk3d" not in shown and "m%40sk3d" not in shown and "infl-pw" not in shown
    assert "mqtt://ingest:***@broker:1883" in shown
    assert "http://writer:***@db:8086/iot" in shown
    assert "client_id='alertloop-ingester'" in shown
    assert cfg.safe_mqtt_url == "mqtt://ingest:***@broker:1883"


def test_the_client_id_lock_is_per_broker_and_client_id(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    path = client_lock_path(MqttSettings("broker", 1883), "a/b")
    assert path == tmp_path / "alertloop" / "ingester-clients" / "broker-1883-a%2Fb.lock"
    assert client_lock_path(MqttSettings("other", 1883), "a/b") != path


@pytest.mark.parametrize(
    "argv",
    [
        ["--mqtt-url", "mqtt://u:s3cr3t-pw@host:notaport"],
        ["--mqtt-url", "ftp://u:s3cr3t-pw@host"],
        ["--influx-url", "http://u:s3cr3t-pw@host:notaport"],
        ["--influx-url", "http://u:s3cr3t%2Dpw@host", "--qos", "5"],
    ],
    ids=["mqtt-bad-port", "mqtt-bad-scheme", "influx-bad-port", "influx-quoted-bad-qos"],
)
def test_configuration_errors_never_print_a_password(
    argv: list[str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main([*argv, "--spool-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("alertloop ingest: ")
    assert "s3cr3t" not in err


def test_redact_knows_the_given_passwords_and_any_url_userinfo() -> None:
    urls = ["mqtt://u:p%40ss@h"]
    assert (
        redact("login p@ss failed for mqtt://x:y@z", urls) == "login *** failed for mqtt://x:***@z"
    )


def test_the_broker_password_can_come_from_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = tmp_path / "mqtt-password"
    secret.write_text("s3cret\n")
    monkeypatch.delenv("ALERTLOOP_MQTT_PASSWORD", raising=False)
    argv = ["--mqtt-url", "mqtt://ingest@broker:1883", "--mqtt-password-file", str(secret)]
    cfg = config_from_args(parse(argv))
    assert (cfg.mqtt.username, cfg.mqtt.password) == ("ingest", "s3cret")
    assert "s3cret" not in repr(cfg)
