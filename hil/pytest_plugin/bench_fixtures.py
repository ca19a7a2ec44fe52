"""The bench in the test suite: ``--alertloop-hil-bench FILE`` (or ``ALERTLOOP_HIL_BENCH``, or the
ini option ``alertloop_hil_bench``) selects real boards for the whole suite, ``--alertloop-flash``
flashes every bench board once before the tests, and each test's serial logs go into its report.

The first board of each role becomes ``--alertloop-esp32``/``--alertloop-nodemcu`` when those are
set nowhere (flag, environment, ini), so the board fixtures run on it through the serial backend; a
port given with ``--alertloop-esp32 PORT`` keeps precedence. ``alertloop_bench_boards`` gives every
board of the bench (fleets).

Serial logs: the lines of every ``SerialMonitor`` a test used (a fixture value that is a monitor
or a running board with one as ``.serial``, or one attached with ``attach_serial_log``) are added
to the test's report as a "Captured serial ..." section, which pytest shows when it fails; the
log file's path goes to the report's ``user_properties`` (and so to JUnit XML)."""

from __future__ import annotations

import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from alertloop.hil.bench.discovery import boards_for_role
from alertloop.hil.bench.model import ROLES, Bench, BenchError, BoardSpec, load_bench
from alertloop.hil.pytest_plugin.options import option_source, resolve_options

__all__ = [
    "alertloop_bench_boards",
    "alertloop_hil_bench",
    "attach_serial_log",
    "bench_settings",
    "pytest_collection_modifyitems",
    "pytest_configure",
    "pytest_runtest_makereport",
    "pytest_terminal_summary",
]

BENCH_ENV = "ALERTLOOP_HIL_BENCH"
BENCH_INI = "alertloop_hil_bench"
MAX_LOG_LINES = 400
FLASH_BOOT_TIMEOUT = 45.0  # WiFi and broker connection before the sketch's first #AL line

BENCH = pytest.StashKey[Bench | None]()
BOARDS = pytest.StashKey[dict[str, list[BoardSpec]]]()
FLASHED = pytest.StashKey[list[str]]()
SERIAL_LOGS = pytest.StashKey[dict[str, Any]]()


def bench_path(config: pytest.Config) -> str | None:
    """The bench file chosen by option, environment or ini file (in that order)."""
    resolve_options(config)
    chosen = config.getoption("--alertloop-hil-bench", default=None)
    return str(chosen) if chosen else None


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    config.stash[BENCH] = None
    config.stash[FLASHED] = []
    if config.getoption("help", default=False):
        return
    path = bench_path(config)
    if config.getoption("--alertloop-flash", default=False) and path is None:
        raise pytest.UsageError(
            f"{option_source(config, 'flash')} needs a bench file: --alertloop-hil-bench FILE "
            f"(or ${BENCH_ENV}, or ini {BENCH_INI})"
        )
    if path is None:
        return
    try:
        bench = load_bench(path)
        boards = {role: boards_for_role(bench, role) for role in ROLES}
    except BenchError as exc:
        raise pytest.UsageError(f"{option_source(config, 'hil-bench')}: {exc}") from None
    config.stash[BENCH] = bench
    config.stash[BOARDS] = boards
    for role, found in boards.items():  # a board chosen anywhere else keeps precedence
        if found and option_source(config, role) == "default":
            setattr(config.option, f"alertloop_{role}", found[0].port)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``hil`` skip, before any fixture starts, when no real board is given."""
    if config.stash.get(BENCH, None) is not None:
        return
    chosen = [str(config.getoption(f"--alertloop-{role}", default="sim")) for role in ROLES]
    if any(value not in ("sim", "virtual") for value in chosen):
        return
    skip = pytest.mark.skip(
        reason=f"no real boards: give --alertloop-hil-bench bench.yaml (or ${BENCH_ENV}), or "
        "--alertloop-esp32/--alertloop-nodemcu PORT; see docs/hil.md"
    )
    for item in items:
        if item.get_closest_marker("hil") is not None:
            item.add_marker(skip)


def bench_settings(config: pytest.Config, port: str) -> dict[str, Any]:
    """Settings for the serial board on ``port`` from the bench (``baudrate``), or ``{}``
    when the bench does not name that port."""
    for found in config.stash.get(BOARDS, {}).values():
        for board in found:
            if board.port == port:
                return {"baudrate": board.baud}
    return {}


@pytest.fixture(scope="session")
def alertloop_hil_bench(pytestconfig: pytest.Config) -> Bench:
    """The bench file given to the session; skips the test when there is none."""
    bench = pytestconfig.stash.get(BENCH, None)
    if bench is None:
        pytest.skip(f"no bench of real boards: give --alertloop-hil-bench FILE or ${BENCH_ENV}")
    return bench


@pytest.fixture(scope="session")
def alertloop_bench_boards(
    alertloop_hil_bench: Bench, pytestconfig: pytest.Config
) -> dict[str, list[BoardSpec]]:
    """Every bench board by role (``{"esp32": [...], "nodemcu": [...]}``), ports found."""
    return pytestconfig.stash[BOARDS]


@pytest.fixture(scope="session", autouse=True)
def _alertloop_bench_flashed(pytestconfig: pytest.Config) -> None:
    """With ``--alertloop-flash``: every bench board flashed, verified, reset and started, once."""
    if not pytestconfig.getoption("--alertloop-flash", default=False):
        return
    from alertloop.hil.bench.flash import FlashError, flash_board

    boards = [b for found in pytestconfig.stash[BOARDS].values() for b in found]
    done = pytestconfig.stash[FLASHED]  # for the summary at the end of the run
    for board in boards:  # a failure fails every test: pytest keeps a session fixture's error
        try:
            done.append(flash_board(board, quiet=True).summary())
            done.append(_started(board))
        except (FlashError, BenchError) as exc:
            done.append(f"failed: {option_source(pytestconfig, 'flash')}: {exc}")
            pytest.fail(done[-1], pytrace=False)


def _started(board: BoardSpec) -> str:
    """Reset the board and wait for its sketch's first ``#AL`` line; what its boot said."""
    import serial

    from alertloop.hil.bench.reset import BootFailed, capture_boot, reset_and_capture

    assert board.port is not None
    with serial.serial_for_url(board.port, board.baud, timeout=0.1) as port:
        try:
            try:
                log = reset_and_capture(port, FLASH_BOOT_TIMEOUT)
            except OSError:  # no modem lines (a pty, a TCP bridge): the flasher reset it
                log = capture_boot(port, FLASH_BOOT_TIMEOUT)
        except BootFailed as exc:
            raise BenchError(f"{board.name}: {exc}") from None
    reason = f" ({log.reset_reason})" if log.reset_reason else ""
    return f"{board.name}: started{reason} in {log.seconds:.1f} s: {log.ready}"


# -- serial logs in the reports ------------------------------------------------------------
def attach_serial_log(node: pytest.Item, name: str, source: Any) -> None:
    """Add ``source`` (a SerialMonitor, a board with ``.serial``, or a log file path) to the
    report of test ``node`` under ``name``."""
    node.stash.setdefault(SERIAL_LOGS, {})[name] = source


def _monitors(item: pytest.Item) -> dict[str, Any]:
    from alertloop.hil.serial_monitor import SerialMonitor

    def console(value: Any) -> Any:
        if not isinstance(value, SerialMonitor) and getattr(value, "running", False):
            return getattr(value, "serial", None)  # a running serial board's console
        return value

    attached: dict[str, Any] = item.stash.get(SERIAL_LOGS, {})
    found = {name: console(source) for name, source in attached.items()}
    for fixture, value in getattr(item, "funcargs", {}).items():
        monitor = console(value)
        if isinstance(monitor, SerialMonitor) and all(monitor is not m for m in found.values()):
            found[f"{fixture} {monitor.port}"] = monitor
    return found


def _text(source: Any) -> tuple[str, str | None]:
    """The lines of ``source`` (newest ``MAX_LOG_LINES``) and its log file, if any."""
    if isinstance(source, (str, Path)):
        path = Path(source)
        lines = path.read_text(errors="replace").splitlines() if path.is_file() else []
        return _clip(lines, str(path)), str(path)
    lines = [
        f"{time.strftime('%H:%M:%S', time.localtime(line.time))}."
        f"{int(line.time * 1000) % 1000:03d} {line.text}"
        for line in list(getattr(source, "lines", []))
    ]
    log_path = getattr(source, "log_path", None)
    return _clip(lines, str(log_path) if log_path else None), str(log_path) if log_path else None


def _clip(lines: list[str], path: str | None) -> str:
    if len(lines) <= MAX_LOG_LINES:
        return "\n".join(lines) or "(nothing received)"
    where = f"; all in {path}" if path else ""
    kept = "\n".join(lines[-MAX_LOG_LINES:])
    return f"({len(lines) - MAX_LOG_LINES} earlier lines left out{where})\n{kept}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, None]:
    outcome: Any = yield
    report = outcome.get_result()
    if report.when != "call":
        return
    for name, source in _monitors(item).items():
        text, path = _text(source)
        report.sections.append((f"Captured serial {name}", text))
        if path:  # the item's list reaches the teardown report, which JUnit XML reads
            item.user_properties.append((f"serial_log {name}", path))
            report.user_properties.append((f"serial_log {name}", path))


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """The bench boards of the session and what ``--alertloop-flash`` did."""
    bench = config.stash.get(BENCH, None)
    if bench is None:
        return
    terminalreporter.write_line(f"alertloop bench: {bench.path}")
    for found in config.stash.get(BOARDS, {}).values():
        for board in found:
            terminalreporter.write_line(f"  {board.describe()}")
    for line in config.stash.get(FLASHED, []):
        terminalreporter.write_line(f"  {line}")
