"""The plugin's fixture and option names cannot clash with other plugins' or a project's own,
tested with pytester."""

from __future__ import annotations

import re

import pytest

pytest_plugins = ["pytester"]

# Fixtures and options of plugins a user of this one may have installed as well:
# pytest-mqtt, pytest-influxdb, pytest-embedded, pytest-docker-fixtures, and the plain names a
# project's own conftest.py tends to use.
OTHER_FIXTURES = [
    "mosquitto", "capmqtt", "mqtt_settings", "influxdb", "stack", "ingester", "webhook",
    "pipeline", "alerting", "fleet", "esp32", "nodemcu", "mqtt_broker", "unique_topic",
    "mqtt_capture", "dut", "serial", "port",
]  # fmt: skip
OTHER_OPTIONS = [
    "--mqtt-host", "--mqtt-port", "--mqtt-username", "--mqtt-password",  # pytest-mqtt
    "--influx-host", "--influx-port", "--influx-user", "--influx-password",  # pytest-influxdb
    "--influx-db",  # pytest-influxdb too: the reason this plugin has only --alertloop-influx-db
    "--port", "--baud", "--target", "--flash-port",  # pytest-embedded
    "--stack", "--flash", "--hil-bench", "--grafana-url",  # test suites' own conftest files
    "--mqtt-url", "--influx-url",  # as generic
]  # fmt: skip

OTHER_PLUGIN = (
    "import pytest\n\n\ndef pytest_addoption(parser):\n"
    + "".join(f"    parser.addoption({name!r})\n" for name in OTHER_OPTIONS)
    + "".join(
        f"\n\n@pytest.fixture\ndef {name}():\n    return 'theirs: {name}'\n"
        for name in OTHER_FIXTURES
    )
)


def plugin_fixtures(pytester: pytest.Pytester) -> list[str]:
    """Every fixture the alertloop plugin defines, read from ``pytest --fixtures``."""
    pytester.makepyfile("def test_x(): pass\n")
    result = pytester.runpytest("--fixtures", "-v")
    found = re.findall(r"^(\w+)(?: \[\w+ scope\])? -- .*pytest_plugin/", result.stdout.str(), re.M)
    assert len(found) > 20, result.stdout.str()
    return found


def test_every_plugin_fixture_is_prefixed(pytester: pytest.Pytester) -> None:
    names = plugin_fixtures(pytester)
    assert [n for n in names if not n.lstrip("_").startswith("alertloop_")] == []
    for expected in ("alertloop_stack", "alertloop_influxdb", "alertloop_ingester",
                     "alertloop_webhook", "alertloop_pipeline", "alertloop_esp32"):  # fmt: skip
        assert expected in names


def test_other_plugins_names_beside_this_plugin(pytester: pytest.Pytester) -> None:
    """Another plugin with pytest-mqtt's, pytest-influxdb's and pytest-embedded's options, the
    generic flags of other suites' conftest files, and fixtures named ``influxdb``, ``stack``, ``ingester``... load beside this one;
    a test gets their fixtures by their names, and this plugin's fixtures still depend on this
    plugin's own (``alertloop_ingester`` needs ``alertloop_influxdb``, not ``influxdb``)."""
    pytester.makepyfile(other_plugin=OTHER_PLUGIN)
    pytester.syspathinsert()
    pytester.makepyfile(
        "def test_theirs(influxdb, stack, mosquitto, ingester, alertloop_esp32_backend):\n"
        "    assert influxdb == 'theirs: influxdb' and stack == 'theirs: stack'\n"
        "    assert mosquitto == 'theirs: mosquitto' and ingester == 'theirs: ingester'\n"
        "    assert alertloop_esp32_backend == 'sim'\n"
        "\n"
        "def test_ours(alertloop_pipeline): pass\n"
    )
    result = pytester.runpytest(
        "-p", "other_plugin", "--influx-db", "x", "--stack", "theirs", "--port", "p", "-k", "theirs"
    )
    result.assert_outcomes(passed=1)
    items, _ = pytester.inline_genitems("-p", "other_plugin")
    ours = next(item for item in items if item.name == "test_ours")
    closure = set(ours.fixturenames)  # type: ignore[attr-defined]
    for name in (
        "alertloop_stack",
        "alertloop_influxdb",
        "alertloop_ingester",
        "alertloop_webhook",
    ):
        assert name in closure
    assert closure.isdisjoint(OTHER_FIXTURES), closure & set(OTHER_FIXTURES)


def test_a_conftest_fixture_named_influxdb_does_not_replace_the_plugins(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest("import pytest\n\n@pytest.fixture\ndef influxdb():\n    return 'mine'\n")
    pytester.makepyfile(
        "def test_mine(influxdb):\n    assert influxdb == 'mine'\n\n"
        "def test_both(alertloop_ingester, influxdb): pass\n"
    )
    pytester.runpytest("-k", "mine").assert_outcomes(passed=1)
    items, _ = pytester.inline_genitems()
    both = next(item for item in items if item.name == "test_both")
    assert "alertloop_influxdb" in both.fixturenames  # type: ignore[attr-defined]
