"""The option model every command uses: precedence, booleans, secrets and their files."""

from __future__ import annotations

from pathlib import Path

import pytest

from alertloop.services.common.commands import Command
from alertloop.services.common.config import (
    INFLUX_OPTIONS,
    MQTT_OPTIONS,
    influx_from,
    mqtt_from,
)
from alertloop.services.common.errors import ConfigError
from alertloop.services.common.settings import Option, integer, parse_bool, positive

SECRET = "Sup3r-s3cret"


def _command(*options: Option) -> Command:
    return Command("alertloop thing", "A thing.", options)


SIZE = Option("--batch-size", "points per write", type=integer, default=500, check=positive)
TOKEN = Option(None, "file whose first line is the token", secret=True, file_flag="--token-file")


def test_a_flag_beats_its_variable_beats_the_default() -> None:
    command = _command(SIZE)
    env = {"ALERTLOOP_THING_BATCH_SIZE": "7"}
    assert command.parse(["--batch-size", "9"], env).batch_size == 9
    values = command.parse([], env)
    assert (values.batch_size, values.source("batch_size")) == (7, "ALERTLOOP_THING_BATCH_SIZE")
    values = command.parse([], {})
    assert (values.batch_size, values.source("batch_size")) == (500, "default")


def test_an_empty_variable_counts_as_unset() -> None:
    assert _command(SIZE).parse([], {"ALERTLOOP_THING_BATCH_SIZE": ""}).batch_size == 500


def test_the_help_shows_variable_and_default_one_way() -> None:
    text = " ".join(_command(SIZE).parser().format_help().split())
    assert "points per write [env: ALERTLOOP_THING_BATCH_SIZE; default: 500]" in text


def test_errors_name_what_the_user_set() -> None:
    command = _command(SIZE)
    with pytest.raises(ConfigError, match="^--batch-size: expected an integer, got 'x'$"):
        command.parse(["--batch-size", "x"], {})
    with pytest.raises(ConfigError, match="^ALERTLOOP_THING_BATCH_SIZE: must be positive"):
        command.parse([], {"ALERTLOOP_THING_BATCH_SIZE": "0"})


@pytest.mark.parametrize("text", ["1", "true", "YES", "On", " on "], ids=str)
def test_true_words(text: str) -> None:
    assert parse_bool(text) is True


@pytest.mark.parametrize("text", ["0", "false", "No", "OFF"], ids=str)
def test_false_words(text: str) -> None:
    assert parse_bool(text) is False


@pytest.mark.parametrize("text", ["", "2", "y", "enabled"], ids=["empty", "2", "y", "enabled"])
def test_other_words_are_errors(text: str) -> None:
    with pytest.raises(ValueError, match="expected 1/true/yes/on or 0/false/no/off"):
        parse_bool(text)


def test_a_boolean_flag_and_its_variable() -> None:
    command = _command(Option("--gzip", "gzip bodies", boolean=True, default=False))
    assert command.parse(["--gzip"], {}).gzip is True
    assert command.parse([], {"ALERTLOOP_THING_GZIP": "on"}).gzip is True
    assert command.parse([], {"ALERTLOOP_THING_GZIP": "off"}).gzip is False
    with pytest.raises(ConfigError, match="^ALERTLOOP_THING_GZIP: expected 1/true"):
        command.parse([], {"ALERTLOOP_THING_GZIP": "maybe"})


def test_a_repeatable_flag_and_its_comma_separated_variable() -> None:
    command = _command(Option("--topic", "topics", multiple=True, default=["/pot"]))
    assert command.parse(["--topic", "a", "--topic", "b"], {}).topic == ["a", "b"]
    assert command.parse([], {"ALERTLOOP_THING_TOPIC": "a, b,"}).topic == ["a", "b"]
    assert command.parse([], {}).topic == ["/pot"]


def test_deprecated_names_still_work_and_warn(capsys: pytest.CaptureFixture[str]) -> None:
    option = Option("--influx-db", "db", old_flags=("--database",), old_env=("OLD_DB",))
    command = _command(option)
    assert command.parse(["--database", "a"], {}).influx_db == "a"
    assert "--database is deprecated; use --influx-db" in capsys.readouterr().err
    assert command.parse([], {"OLD_DB": "b"}).influx_db == "b"
    assert "OLD_DB is deprecated; use ALERTLOOP_INFLUX_DB" in capsys.readouterr().err
    assert command.parse([], {"OLD_DB": "b", "ALERTLOOP_INFLUX_DB": "c"}).influx_db == "c"
    assert "--database" not in command.parser().format_help()


def test_a_secret_from_its_file_flag_its_file_variable_or_its_variable(tmp_path: Path) -> None:
    secret_file = tmp_path / "token"
    secret_file.write_text(f"{SECRET}\nsecond line\n")
    command = _command(TOKEN)
    values = command.parse(["--token-file", str(secret_file)], {"ALERTLOOP_THING_TOKEN": "env"})
    assert (values.token, values.source("token")) == (SECRET, "--token-file")
    env = {"ALERTLOOP_THING_TOKEN_FILE": str(secret_file), "ALERTLOOP_THING_TOKEN": "env"}
    assert command.parse([], env).token == SECRET
    assert command.parse([], {"ALERTLOOP_THING_TOKEN": "env"}).token == "env"
    help_text = " ".join(command.parser().format_help().split())
    assert "(or the value itself in ALERTLOOP_THING_TOKEN)" in help_text
    assert "[env: ALERTLOOP_THING_TOKEN_FILE; default: none]" in help_text


def test_a_whole_file_secret_keeps_every_line(tmp_path: Path) -> None:
    users = tmp_path / "users"
    users.write_text("a:h1\nb:h2\n")
    command = _command(
        Option(None, "users file", secret=True, file_flag="--users-file", whole_file=True)
    )
    assert command.parse(["--users-file", str(users)], {}).users == "a:h1\nb:h2\n"


def test_secrets_stay_out_of_repr_and_errors(tmp_path: Path) -> None:
    command = _command(TOKEN, Option("--pin", "pin", type=integer, secret=True))
    values = command.parse([], {"ALERTLOOP_THING_TOKEN": SECRET})
    assert SECRET not in repr(values) and "token=***" in repr(values)
    with pytest.raises(ConfigError) as caught:
        command.parse(["--pin", SECRET], {})
    assert SECRET not in str(caught.value) and str(caught.value).startswith("--pin: ")
    empty = tmp_path / "empty"
    empty.write_text("")
    with pytest.raises(ConfigError, match=f"^ALERTLOOP_THING_TOKEN_FILE: {empty} is empty$"):
        command.parse([], {"ALERTLOOP_THING_TOKEN_FILE": str(empty)})
    with pytest.raises(ConfigError, match="^--token-file: cannot read .*missing"):
        command.parse(["--token-file", str(tmp_path / "missing")], {})


def test_mqtt_and_influx_passwords_kept_off_the_url(tmp_path: Path) -> None:
    command = _command(*MQTT_OPTIONS, *INFLUX_OPTIONS)
    mqtt_pw, influx_pw = tmp_path / "mqtt", tmp_path / "influx"
    mqtt_pw.write_text("m-pw\n")
    influx_pw.write_text("i-pw\n")
    values = command.parse(
        ["--mqtt-url", "mqtt://ingest@broker", "--mqtt-password-file", str(mqtt_pw),
         "--influx-url", "http://writer@db:8086/iot"],
        {"ALERTLOOP_INFLUX_PASSWORD_FILE": str(influx_pw)},
    )  # fmt: skip
    mqtt, influx = mqtt_from(values), influx_from(values)
    assert (mqtt.username, mqtt.password) == ("ingest", "m-pw")
    assert (influx.username, influx.password, influx.database) == ("writer", "i-pw", "iot")
    assert "m-pw" not in repr(mqtt) and "i-pw" not in repr(influx) and "i-pw" not in repr(values)
    old_form = command.parse(["--influx-url", "http://writer:url-pw@db:8086"], {})
    assert influx_from(old_form).password == "url-pw"


def test_a_password_twice_or_without_a_user_names_both_places() -> None:
    command = _command(*MQTT_OPTIONS, *INFLUX_OPTIONS)
    env = {"ALERTLOOP_INFLUX_PASSWORD": SECRET}
    values = command.parse(["--influx-url", "http://u:other@db"], env)
    with pytest.raises(ConfigError, match="^ALERTLOOP_INFLUX_PASSWORD: .*twice.*--influx-url"):
        influx_from(values)
    with pytest.raises(ConfigError, match="^ALERTLOOP_MQTT_PASSWORD: .*no user name"):
        mqtt_from(command.parse([], {"ALERTLOOP_MQTT_PASSWORD": SECRET}))


def test_a_bad_url_names_its_flag_or_variable_without_the_password() -> None:
    command = _command(*MQTT_OPTIONS)
    with pytest.raises(ConfigError) as caught:
        mqtt_from(command.parse([], {"ALERTLOOP_MQTT_URL": f"http://u:{SECRET}@h"}))
    assert str(caught.value).startswith("ALERTLOOP_MQTT_URL: ") and SECRET not in str(caught.value)


def test_variables_follow_the_component_and_the_shared_names() -> None:
    command = Command("alertloop sim fleet", "", [SIZE, *MQTT_OPTIONS[:2]])
    envs = {o.name: o.env for o in command.options}
    assert envs == {
        "batch_size": "ALERTLOOP_SIM_FLEET_BATCH_SIZE",
        "mqtt_url": "ALERTLOOP_MQTT_URL",
        "mqtt_password": "ALERTLOOP_MQTT_PASSWORD",
    }
