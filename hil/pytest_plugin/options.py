"""Command-line options and markers of the alertloop pytest plugin."""

from __future__ import annotations

from typing import Any

import pytest

from alertloop.hil.boards.factory import BACKEND_HELP, BackendNotBuilt, backend_kind
from alertloop.hil.stack.factory import BACKENDS

MARKERS = {
    "e2e": "end-to-end test through the whole loop (stack, services, boards)",
    "hil": "needs real boards on serial ports (--esp32/--nodemcu PORT)",
    "docker": "needs a Docker engine (skipped with the reason where none answers)",
    "slow": "takes more than a few seconds",
    "every_board": (
        "run once per board backend: each of --board-backends (sim, virtual), and the "
        "--esp32/--nodemcu pair when it is another"
    ),
}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("alertloop", "alertloop stack and boards")
    group.addoption(
        "--stack",
        choices=BACKENDS,
        default="auto",
        help="where broker and database come from (default: auto = docker, else native)",
    )
    group.addoption("--mqtt-url", default=None, help="external stack: mqtt://user:pass@host:1883")
    group.addoption("--influx-url", default=None, help="external stack: http://host:8086")
    group.addoption(
        "--influx-db", default="iot", help="external stack: database name (default iot)"
    )
    group.addoption("--grafana-url", default=None, help="external stack: Grafana base URL")
    group.addoption(
        "--alerting",
        choices=("sim", "grafana"),
        default="sim",
        help="alert source: the simulated evaluator or Grafana (docker/external stack)",
    )
    group.addoption(
        "--alert-interval",
        type=float,
        default=None,
        help="evaluation interval of the simulated alerting in seconds (tests default short)",
    )
    group.addoption(
        "--esp32",
        default="sim",
        help=f"ESP32 board backend: {BACKEND_HELP} (default sim)",
    )
    group.addoption(
        "--nodemcu",
        default="sim",
        help=f"NodeMCU board backend: {BACKEND_HELP} (default sim)",
    )
    group.addoption(
        "--board-backends",
        default="sim,virtual",
        help="comma-separated backends the tests marked every_board run on (default sim,virtual)",
    )


def pytest_configure(config: pytest.Config) -> None:
    for name, text in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")
    for kind in ("esp32", "nodemcu"):
        _check(kind, str(config.getoption(f"--{kind}", default="sim") or "sim"))
    listed = str(config.getoption("--board-backends", default="sim,virtual") or "")
    for name in (n.strip() for n in listed.split(",")):
        if name:
            _check("board-backends", name)


def _check(option: str, value: str) -> None:
    try:
        backend_kind(value)
    except BackendNotBuilt as exc:
        raise pytest.UsageError(f"--{option}={value}: {exc}") from None


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """Names the stack the session ran on (backend, engine, images), for the run's record."""
    from alertloop.hil.pytest_plugin.stack_fixtures import STACKS_USED

    for line in config.stash.get(STACKS_USED, []):
        terminalreporter.write_line(f"alertloop stack: {line}")
