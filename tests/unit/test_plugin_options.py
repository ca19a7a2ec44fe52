"""The plugin's options, tested with pytester: flag, environment, ini file, their order, the
usage errors, the help text; markers; the docker skip reason."""

from __future__ import annotations

import pytest

from alertloop.hil.pytest_plugin.options import OPTIONS

pytest_plugins = ["pytester"]

SHOW = """
def test_show(request):
    for name in ("stack", "mqtt_url", "influx_url", "influx_db", "alert_interval", "esp32", "flash"):
        print(f"OPTION {name}={request.config.getoption('alertloop_' + name)!r}")
"""


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No ALERTLOOP_* variable of the outer run reaches the inner ones."""
    for option in OPTIONS:
        monkeypatch.delenv(option.env, raising=False)


def shown(result: pytest.RunResult) -> dict[str, str]:
    assert result.ret == 0, result.stdout.str() + result.stderr.str()
    lines = [line.split("OPTION ", 1)[1] for line in result.outlines if "OPTION " in line]
    return dict(line.split("=", 1) for line in lines)


def test_markers_are_registered(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--markers")
    for marker in ("e2e:", "hil:", "docker:", "slow:", "every_board:"):
        result.stdout.fnmatch_lines([f"@pytest.mark.{marker}*"])


def test_stack_option_rejects_unknown_backend(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x(): pass")
    result = pytester.runpytest("--alertloop-stack", "bogus")
    assert result.ret != 0
    result.stderr.fnmatch_lines(["*invalid choice: 'bogus'*"])


def test_defaults_without_flag_env_or_ini(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(SHOW)
    values = shown(pytester.runpytest("-s"))
    assert values["stack"] == "'auto'" and values["influx_db"] == "'iot'"
    assert values["alert_interval"] == "1.0" and values["esp32"] == "'sim'"
    assert values["flash"] == "False" and values["mqtt_url"] == "None"


@pytest.mark.parametrize("where", ["pyproject", "pytest.ini", "tox.ini"])
def test_ini_options_are_read(pytester: pytest.Pytester, where: str) -> None:
    lines = [
        "alertloop_stack = native",
        "alertloop_influx_db = from_ini",
        "alertloop_alert_interval = 0.5",
        "alertloop_esp32 = virtual",
    ]
    if where == "pyproject":
        quoted = [f'{k.strip()} = "{v.strip()}"' for k, v in (x.split("=") for x in lines)]
        pytester.makepyprojecttoml("[tool.pytest.ini_options]\n" + "\n".join(quoted))
    elif where == "pytest.ini":
        pytester.makeini("[pytest]\n" + "\n".join(lines))
    else:
        (pytester.path / "tox.ini").write_text("[pytest]\n" + "\n".join(lines) + "\n")
    pytester.makepyfile(SHOW)
    values = shown(pytester.runpytest("-s"))
    assert values["stack"] == "'native'" and values["influx_db"] == "'from_ini'"
    assert values["alert_interval"] == "0.5" and values["esp32"] == "'virtual'"


def test_environment_is_honoured(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALERTLOOP_STACK", "external")
    monkeypatch.setenv("ALERTLOOP_MQTT_URL", "mqtt://127.0.0.1:1")
    monkeypatch.setenv("ALERTLOOP_INFLUX_URL", "http://127.0.0.1:2")
    monkeypatch.setenv("ALERTLOOP_FLASH", "off")
    pytester.makepyfile(SHOW)
    values = shown(pytester.runpytest("-s"))
    assert values["stack"] == "'external'"
    assert values["mqtt_url"] == "'mqtt://127.0.0.1:1'"
    assert values["influx_url"] == "'http://127.0.0.1:2'"
    assert values["flash"] == "False"


@pytest.mark.parametrize(
    ("flag", "env", "ini", "expected"),
    [
        ("external", "docker", "native", "external"),
        (None, "docker", "native", "docker"),
        (None, None, "native", "native"),
        (None, None, None, "auto"),
        ("native", None, "docker", "native"),
    ],
    ids=["flag-over-env-and-ini", "env-over-ini", "ini-over-default", "default", "flag-over-ini"],
)
def test_command_line_then_environment_then_ini_then_default(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    flag: str | None,
    env: str | None,
    ini: str | None,
    expected: str,
) -> None:
    ini_lines = ["[pytest]", "alertloop_mqtt_url = mqtt://127.0.0.1:1"]
    ini_lines.append("alertloop_influx_url = http://127.0.0.1:2")
    if ini:
        ini_lines.append(f"alertloop_stack = {ini}")
    pytester.makeini("\n".join(ini_lines))
    if env:
        monkeypatch.setenv("ALERTLOOP_STACK", env)
    pytester.makepyfile(SHOW)
    args = ["-s", *(["--alertloop-stack", flag] if flag else [])]
    assert shown(pytester.runpytest(*args))["stack"] == repr(expected)


def test_short_alias_sets_the_same_option(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(SHOW)
    values = shown(pytester.runpytest("-s", "--esp32", "virtual", "--alertloop-stack", "native"))
    assert values["esp32"] == "'virtual'" and values["stack"] == "'native'"


def test_external_without_urls_is_one_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        "def test_a(alertloop_stack): pass\n"
        "def test_b(alertloop_stack): pass\n"
        "def test_c(alertloop_influxdb): pass\n"
    )
    result = pytester.runpytest("--alertloop-stack", "external")
    assert result.ret == pytest.ExitCode.USAGE_ERROR == 4
    err = result.stderr.str()
    assert err.count("ERROR: --alertloop-stack=external needs the servers' addresses") == 1, err
    assert "--alertloop-mqtt-url (or $ALERTLOOP_MQTT_URL, or ini alertloop_mqtt_url)" in err
    assert "--alertloop-influx-url" in err
    assert "Traceback" not in err + result.stdout.str()
    assert "passed" not in result.stdout.str() and "error" not in result.stdout.str()


def test_external_from_the_environment_names_the_variable(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALERTLOOP_STACK", "external")
    monkeypatch.setenv("ALERTLOOP_MQTT_URL", "mqtt://127.0.0.1:1")
    pytester.makepyfile("def test_a(alertloop_stack): pass\n")
    result = pytester.runpytest()
    assert result.ret == 4
    result.stderr.fnmatch_lines(
        [
            "ERROR: $ALERTLOOP_STACK=external needs the servers' addresses: give --alertloop-influx-url*"
        ]
    )


@pytest.mark.parametrize(
    ("args", "env", "ini", "message"),
    [
        (["--alerting", "grafana", "--alertloop-stack", "native"], {}, "",
         "--alerting=grafana needs a stack with Grafana (docker or external), "
         "and the stack is --alertloop-stack=native"),
        (["--alertloop-stack", "external", "--alertloop-mqtt-url", "mqtt://h",
          "--alertloop-influx-url", "http://h", "--alertloop-alerting", "grafana"], {}, "",
         "--alertloop-alerting=grafana on an external stack needs --alertloop-grafana-url*"),
        (["--alertloop-mqtt-url", "mqtt://h", "--alertloop-stack", "native"], {}, "",
         "--alertloop-mqtt-url only apply to --alertloop-stack external, "
         "and the stack is --alertloop-stack=native"),
        (["--alertloop-stack", "external", "--alertloop-mqtt-url", "ftp://h",
          "--alertloop-influx-url", "http://h"], {}, "",
         "--alertloop-mqtt-url: MQTT URL 'ftp://h': scheme must be mqtt:// or mqtts://"),
        ([], {"ALERTLOOP_STACK": "bogus"}, "",
         "$ALERTLOOP_STACK=bogus: choose one of auto, native, docker, external"),
        ([], {"ALERTLOOP_ESP32": "bogus"}, "",
         "$ALERTLOOP_ESP32=bogus: unknown board backend 'bogus'*"),
        ([], {"ALERTLOOP_ALERT_INTERVAL": "0"}, "",
         "$ALERTLOOP_ALERT_INTERVAL=0: not a positive number of seconds"),
        ([], {}, "alertloop_alerting = prometheus",
         "ini alertloop_alerting=prometheus: choose one of sim, grafana"),
        ([], {}, "alertloop_flash = maybe", "ini alertloop_flash=maybe: not a boolean*"),
        (["--board-backends", ","], {}, "", "--board-backends=,: name at least one backend"),
        (["--alertloop-flash"], {}, "",
         "--alertloop-flash needs a bench file: --alertloop-hil-bench FILE*"),
    ],
    ids=[
        "grafana-on-native", "grafana-external-without-url", "url-on-native", "bad-url",
        "env-unknown-stack", "env-unknown-board", "env-zero-interval", "ini-unknown-alerting",
        "ini-bad-boolean", "no-board-backends", "flash-without-bench",
    ],
)  # fmt: skip
def test_bad_values_and_contradictions_are_usage_errors(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    env: dict[str, str],
    ini: str,
    message: str,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    if ini:
        pytester.makeini(f"[pytest]\n{ini}\n")
    pytester.makepyfile("def test_a(): pass\ndef test_b(): pass\n")
    result = pytester.runpytest(*args)
    assert result.ret == 4
    result.stderr.fnmatch_lines([f"ERROR: {message}"])
    assert result.stderr.str().count("ERROR:") == 1
    assert "Traceback" not in result.stderr.str()


def test_every_option_says_its_variable_ini_key_and_default_the_same_way(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALERTLOOP_STACK", "bogus")  # --help shows the options all the same
    result = pytester.runpytest("--help")
    assert result.ret == 0
    text = " ".join(result.stdout.str().split())
    for option in OPTIONS:
        assert option.flag.startswith("--alertloop-")
        assert option.env == "ALERTLOOP_" + option.name.replace("-", "_").upper()
        shown = f"[env: {option.env}; ini: {option.ini}; default: {option.shown_default}]"
        assert shown in text, shown
        assert f"{option.ini} (string)" in text  # the ini key is registered


def test_docker_stack_skips_with_reason_where_no_engine(pytester: pytest.Pytester) -> None:
    from alertloop.hil.stack import docker_available

    if docker_available()[0]:
        pytest.skip("a Docker engine answers here, so the docker stack does not skip")
    pytester.makepyfile("def test_needs_stack(alertloop_stack): pass")
    result = pytester.runpytest("--alertloop-stack", "docker", "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*docker stack backend unavailable: no Docker engine answers*"])
