"""Options and markers of the alertloop pytest plugin.

Every option has one name in three places: the flag ``--alertloop-NAME``, the ini key
``alertloop_NAME`` (``[tool.pytest.ini_options]``, ``pytest.ini``, ``tox.ini``) and the
environment variable ``ALERTLOOP_NAME``. A value is taken from the command line, else the
environment, else the ini file, else the default. ``pytest_configure`` resolves them once,
writes the result back into ``config.option`` (so ``config.getoption("--alertloop-stack")``
is the value in force) and turns a bad value or a contradiction into one ``pytest.UsageError``.

Short aliases stay only for the project's own words, which none of pytest-mqtt,
pytest-influxdb, pytest-embedded, pytest-docker-fixtures and pytest-databases registers:
``--esp32``, ``--nodemcu``, ``--board-backends``, ``--alerting``, ``--alert-interval``. The
generic ``--stack``, ``--mqtt-url``, ``--influx-url``, ``--influx-db``, ``--grafana-url``,
``--flash`` and ``--hil-bench`` are registered by other plugins (pytest-influxdb has
``--influx-db``) or by other test suites' ``conftest.py`` files, and pytest stops when two add
the same flag, so those have only the long form.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from alertloop.hil.boards.factory import BACKEND_HELP, BackendNotBuilt, backend_kind
from alertloop.hil.stack.factory import BACKENDS
from alertloop.services.common.settings import parse_bool

__all__ = [
    "OPTIONS",
    "PluginOption",
    "option_source",
    "pytest_addoption",
    "pytest_configure",
    "pytest_terminal_summary",
    "resolve_options",
]

MARKERS = {
    "e2e": "end-to-end test through the whole loop (stack, services, boards)",
    "hil": "needs real boards on serial ports (--alertloop-esp32/--alertloop-nodemcu PORT)",
    "docker": "needs a Docker engine (skipped with the reason where none answers)",
    "slow": "takes more than a few seconds",
    "every_board": (
        "run once per board backend: each of --alertloop-board-backends (sim, virtual), and "
        "the --alertloop-esp32/--alertloop-nodemcu pair when it is another"
    ),
}
ALERTING = ("sim", "grafana")
SOURCES = pytest.StashKey[dict[str, str]]()  # option name -> where its value came from


def _text(value: str, where: str) -> str:
    return value


def _bool(value: str, where: str) -> bool:
    try:
        return parse_bool(value)
    except ValueError:
        words = "1, true, yes, on, 0, false, no, off"
        raise pytest.UsageError(f"{where}={value}: not a boolean; use one of {words}") from None


def _seconds(value: str, where: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not seconds > 0:
        raise pytest.UsageError(f"{where}={value}: not a positive number of seconds")
    return seconds


def _choice(choices: tuple[str, ...]) -> Callable[[str, str], str]:
    def parse(value: str, where: str) -> str:
        if value not in choices:
            raise pytest.UsageError(f"{where}={value}: choose one of {', '.join(choices)}")
        return value

    return parse


@dataclass(frozen=True)
class PluginOption:
    """One option: ``--alertloop-NAME``, ini ``alertloop_NAME``, ``$ALERTLOOP_NAME``."""

    name: str  # with dashes: "stack", "mqtt-url"
    text: str  # what it is, for the help
    default: Any
    parse: Callable[[str, str], Any] = _text
    aliases: tuple[str, ...] = ()
    choices: tuple[str, ...] | None = None
    metavar: str | None = None
    switch: bool = False  # a flag without a value on the command line (``--flash``)

    @property
    def flag(self) -> str:
        return f"--alertloop-{self.name}"

    @property
    def dest(self) -> str:
        return f"alertloop_{self.name.replace('-', '_')}"

    @property
    def ini(self) -> str:
        return self.dest

    @property
    def env(self) -> str:
        return self.dest.upper()

    @property
    def shown_default(self) -> str:
        if self.default is None:
            return "none"
        if isinstance(self.default, bool):
            return "true" if self.default else "false"
        return str(self.default)

    @property
    def help(self) -> str:
        return f"{self.text} [env: {self.env}; ini: {self.ini}; default: {self.shown_default}]"


OPTIONS: tuple[PluginOption, ...] = (
    PluginOption(
        "stack",
        "where broker and database come from; auto is docker where an engine answers, else native",
        "auto",
        _choice(BACKENDS),
        choices=BACKENDS,
    ),
    PluginOption(
        "mqtt-url",
        "external stack: broker URL, mqtt://user:pass@host:1883",
        None,
        metavar="URL",
    ),
    PluginOption(
        "influx-url",
        "external stack: InfluxDB URL, http://host:8086",
        None,
        metavar="URL",
    ),
    PluginOption("influx-db", "the stack's database name", "iot", metavar="NAME"),
    PluginOption(
        "grafana-url",
        "external stack: Grafana base URL",
        None,
        metavar="URL",
    ),
    PluginOption(
        "alerting",
        "alert source: the simulated evaluator, or Grafana (docker or external stack)",
        "sim",
        _choice(ALERTING),
        aliases=("--alerting",),
        choices=ALERTING,
    ),
    PluginOption(
        "alert-interval",
        "evaluation interval of the simulated alerting, in seconds",
        1.0,
        _seconds,
        aliases=("--alert-interval",),
        metavar="SECONDS",
    ),
    PluginOption(
        "esp32",
        f"ESP32 board backend: {BACKEND_HELP}",
        "sim",
        aliases=("--esp32",),
        metavar="BACKEND",
    ),
    PluginOption(
        "nodemcu",
        f"NodeMCU board backend: {BACKEND_HELP}",
        "sim",
        aliases=("--nodemcu",),
        metavar="BACKEND",
    ),
    PluginOption(
        "board-backends",
        "comma-separated backends the tests marked every_board run on",
        "sim,virtual",
        aliases=("--board-backends",),
        metavar="LIST",
    ),
    PluginOption(
        "hil-bench",
        "bench file of real boards for the suite (an ini path is relative to the rootdir)",
        None,
        metavar="FILE",
    ),
    PluginOption(
        "flash",
        "flash every bench board once before the tests (images PlatformIO built)",
        False,
        _bool,
        switch=True,
    ),
)
BY_NAME = {option.name: option for option in OPTIONS}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("alertloop", "alertloop stack and boards")
    for option in OPTIONS:
        names = (option.flag, *option.aliases)
        if option.switch:
            group.addoption(
                *names, dest=option.dest, action="store_const", const=True, default=None,
                help=option.help,
            )  # fmt: skip
        else:
            group.addoption(
                *names, dest=option.dest, default=None, choices=option.choices,
                metavar=option.metavar, help=option.help,
            )  # fmt: skip
        parser.addini(option.ini, option.help, default="")


def resolve_options(config: pytest.Config) -> dict[str, str]:
    """Set every option in ``config.option`` to the value in force (command line, else
    environment, else ini, else default); returns where each came from. Runs once.

    Raises pytest.UsageError for a value that does not parse, naming where it was set.
    """
    if SOURCES in config.stash:
        return config.stash[SOURCES]
    sources: dict[str, str] = {}
    for option in OPTIONS:
        given = getattr(config.option, option.dest, None)
        if given is not None:
            sources[option.name] = _typed(config, option)
            value: Any = given
            if isinstance(given, str):
                value = option.parse(given, sources[option.name])
        elif os.environ.get(option.env, "").strip():
            sources[option.name] = f"${option.env}"
            value = option.parse(os.environ[option.env].strip(), sources[option.name])
        elif str(config.getini(option.ini)).strip():
            sources[option.name] = f"ini {option.ini}"
            value = option.parse(str(config.getini(option.ini)).strip(), sources[option.name])
            if option.name == "hil-bench" and not Path(value).is_absolute():
                value = str(config.rootpath / value)
        else:
            sources[option.name] = "default"
            value = option.default
        setattr(config.option, option.dest, value)
    config.stash[SOURCES] = sources
    return sources


def _typed(config: pytest.Config, option: PluginOption) -> str:
    """The spelling of ``option`` the command line used (``--esp32`` or ``--alertloop-esp32``)."""
    for arg in reversed(config.invocation_params.args):
        name = str(arg).split("=", 1)[0]
        if name in (option.flag, *option.aliases):
            return name
    return option.flag


def option_source(config: pytest.Config, name: str) -> str:
    """Where option ``name`` (``"stack"``) came from: ``--alertloop-stack``,
    ``$ALERTLOOP_STACK``, ``ini alertloop_stack`` or ``default``."""
    return resolve_options(config)[name]


def _said(config: pytest.Config, name: str) -> str:
    """``--alertloop-stack=external`` or ``$ALERTLOOP_STACK=external``, as the user set it."""
    source = option_source(config, name)
    value = getattr(config.option, BY_NAME[name].dest)
    if source == "default":
        return f"{BY_NAME[name].flag}={value} (the default)"
    return f"{source}={value}"


def _ways(name: str) -> str:
    option = BY_NAME[name]
    return f"{option.flag} (or ${option.env}, or ini {option.ini})"


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    for name, text in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")
    if config.getoption("help", default=False):
        return  # --help shows the options whatever their values
    resolve_options(config)
    check_options(config)


def check_options(config: pytest.Config) -> None:
    """One usage error for a bad value or a contradiction among the options."""
    value = config.option
    for kind in ("esp32", "nodemcu"):
        _check_backend(config, kind, str(getattr(value, f"alertloop_{kind}")))
    listed = [n.strip() for n in str(value.alertloop_board_backends).split(",") if n.strip()]
    if not listed:
        raise pytest.UsageError(f"{_said(config, 'board-backends')}: name at least one backend")
    for name in listed:
        _check_backend(config, "board-backends", name)
    stack = value.alertloop_stack
    if stack == "external":
        missing = [n for n in ("mqtt-url", "influx-url") if not getattr(value, BY_NAME[n].dest)]
        if missing:
            raise pytest.UsageError(
                f"{_said(config, 'stack')} needs the servers' addresses: give "
                + " and ".join(_ways(n) for n in missing)
            )
        _check_urls(config)
    else:
        given = [
            n for n in ("mqtt-url", "influx-url", "grafana-url") if _on_command_line(config, n)
        ]
        if given:
            raises = ", ".join(option_source(config, n) for n in given)
            raise pytest.UsageError(
                f"{raises} only apply to --alertloop-stack external, "
                f"and the stack is {_said(config, 'stack')}"
            )
    if value.alertloop_alerting == "grafana":
        if stack == "native":
            raise pytest.UsageError(
                f"{_said(config, 'alerting')} needs a stack with Grafana (docker or external), "
                f"and the stack is {_said(config, 'stack')}"
            )
        if stack == "external" and not value.alertloop_grafana_url:
            raise pytest.UsageError(
                f"{_said(config, 'alerting')} on an external stack needs {_ways('grafana-url')}"
            )


def _on_command_line(config: pytest.Config, name: str) -> bool:
    return option_source(config, name).startswith("--")


def _check_backend(config: pytest.Config, name: str, backend: str) -> None:
    try:
        backend_kind(backend)
    except BackendNotBuilt as exc:
        raise pytest.UsageError(f"{option_source(config, name)}={backend}: {exc}") from None


def _check_urls(config: pytest.Config) -> None:
    from alertloop.services.common.config import InfluxSettings, MqttSettings
    from alertloop.services.common.errors import ConfigError

    checks: list[tuple[str, Callable[[str], Any]]] = [
        ("mqtt-url", MqttSettings.from_url),
        ("influx-url", InfluxSettings.from_url),
    ]
    for name, parse in checks:
        url = getattr(config.option, BY_NAME[name].dest)
        try:
            parse(url)
        except (ConfigError, ValueError) as exc:
            raise pytest.UsageError(f"{option_source(config, name)}: {exc}") from None


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """Names the stack the session ran on (backend, engine, images), for the run's record."""
    from alertloop.hil.pytest_plugin.stack_fixtures import STACKS_USED

    for line in config.stash.get(STACKS_USED, []):
        terminalreporter.write_line(f"alertloop stack: {line}")
