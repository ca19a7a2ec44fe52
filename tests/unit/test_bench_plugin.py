"""The bench options of the pytest plugin, run with pytester (no hardware): the bench's
boards become the suite's boards, bad files are usage errors, and serial logs go into the
reports of the tests that used them."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

BENCH = """
boards:
  - {name: knob, role: esp32, port: /dev/ttyFAKE0}
  - {name: knob-2, role: esp32, port: /dev/ttyFAKE2}
  - {name: leds, role: nodemcu, port: /dev/ttyFAKE1, baud: 57600}
"""

CHECK_OPTIONS = """
from alertloop.hil.pytest_plugin.bench_fixtures import bench_settings

def test_options(request, alertloop_bench_boards):
    assert request.config.getoption("--esp32") == "{esp32}"
    assert request.config.getoption("--nodemcu") == "/dev/ttyFAKE1"
    assert [b.name for b in alertloop_bench_boards["esp32"]] == ["knob", "knob-2"]
    assert bench_settings(request.config, "/dev/ttyFAKE1") == {{"baudrate": 57600}}
    assert bench_settings(request.config, "/dev/elsewhere") == {{}}
"""


def test_the_first_board_of_each_role_runs_the_suite(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", bench=BENCH)
    pytester.makepyfile(CHECK_OPTIONS.format(esp32="/dev/ttyFAKE0"))
    result = pytester.runpytest("--alertloop-hil-bench", "bench.yaml")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        ["alertloop bench: bench.yaml", "  knob (esp32, esp32) on /dev/ttyFAKE0", "*leds*"]
    )


def test_a_port_given_on_the_command_line_wins(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", bench=BENCH)
    pytester.makepyfile(CHECK_OPTIONS.format(esp32="/dev/ttyOTHER"))
    result = pytester.runpytest("--alertloop-hil-bench", "bench.yaml", "--esp32", "/dev/ttyOTHER")
    result.assert_outcomes(passed=1)


def test_the_bench_from_the_environment(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    bench = pytester.makefile(".yaml", bench=BENCH)
    monkeypatch.setenv("ALERTLOOP_HIL_BENCH", str(bench))
    pytester.makepyfile(CHECK_OPTIONS.format(esp32="/dev/ttyFAKE0"))
    pytester.runpytest().assert_outcomes(passed=1)


def test_the_bench_from_the_ini_file(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ALERTLOOP_HIL_BENCH", raising=False)
    pytester.mkdir("lab")
    (pytester.path / "lab" / "bench.yaml").write_text(BENCH)
    pytester.makeini("[pytest]\nalertloop_hil_bench = lab/bench.yaml\n")
    pytester.makepyfile(CHECK_OPTIONS.format(esp32="/dev/ttyFAKE0"))
    pytester.runpytest().assert_outcomes(passed=1)


def test_a_bad_bench_file_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", bench="boards: [{role: esp33, port: /dev/x}]")
    result = pytester.runpytest("--alertloop-hil-bench", "bench.yaml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*--alertloop-hil-bench: bench.yaml: boards[[]0[]]: role must be one of*"]
    )


def test_a_board_not_plugged_in_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", bench="boards: [{name: k, role: esp32, match: {serial: NOPE}}]")
    result = pytester.runpytest("--alertloop-hil-bench", "bench.yaml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*board k: no serial port matches USB serial=NOPE*"])


def test_flash_needs_a_bench(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ALERTLOOP_HIL_BENCH", raising=False)
    result = pytester.runpytest("--alertloop-flash")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--alertloop-flash needs a bench file*"])


def test_without_a_bench_bench_tests_skip_with_the_reason(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ALERTLOOP_HIL_BENCH", raising=False)
    pytester.makepyfile("def test_bench(alertloop_hil_bench):\n    pass\n")
    result = pytester.runpytest("-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*no bench of real boards: give --alertloop-hil-bench FILE*"])


SERIAL_TEST = """
import pytest
from alertloop.hil.serial_monitor import SerialMonitor

@pytest.fixture
def console(tmp_path):
    with SerialMonitor("loop://", log_path=tmp_path / "console.log") as monitor:
        yield monitor

@pytest.mark.parametrize("ok", [True, False], ids=["passes", "fails"])
def test_board(console, ok):
    console.send("#AL published value=42 seq=1")
    console.wait_for_event("published", timeout=5)
    assert ok, "the knob did not turn"
"""


def test_serial_logs_go_into_the_report_and_show_on_failure(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(SERIAL_TEST)
    result = pytester.runpytest("--junitxml=report.xml", "-o", "junit_family=xunit1")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        ["*- Captured serial console loop:// -*", "??:??:??.??? #AL published value=42 seq=1"]
    )
    assert result.stdout.str().count("Captured serial") == 1  # only the failed test shows it
    xml = (pytester.path / "report.xml").read_text()
    assert xml.count('name="serial_log console loop://"') == 2
    assert "console.log" in xml


def test_hil_tests_skip_before_their_fixtures_without_boards(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ALERTLOOP_HIL_BENCH", raising=False)
    pytester.makepyfile(
        """
import pytest

@pytest.fixture
def expensive():
    raise AssertionError("a fixture of a skipped test ran")

@pytest.mark.hil
def test_on_boards(expensive):
    pass

def test_elsewhere():
    pass
"""
    )
    result = pytester.runpytest("-rs")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(
        ["*no real boards: give --alertloop-hil-bench bench.yaml*docs/hil.md"]
    )
    pytester.runpytest("--esp32", "/dev/ttyUSB0").assert_outcomes(passed=1, errors=1)
