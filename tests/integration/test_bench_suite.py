"""``pytest --alertloop-hil-bench bench.yaml``: the bench's boards become the suite's boards. The
"boards" here are the real sketches built for Linux (``make -C firmware host``), each on a
pty and connected to the real broker, named in a bench file as flashed boards on ports
would be. The suite's own ``esp32`` fixture drives the knob sketch through the serial
backend, and a failing test carries the board's serial log in its report.

The NodeMCU sketch is named in the bench (and becomes ``--nodemcu``) but not driven here: on
a pty it cannot be reset, so the line announcing its subscription is gone before the inner
session opens the port; a real board is reset by the fixtures and announces it again."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from alertloop.hil.boards.virtual import HostFirmware
from alertloop.hil.stack import Stack

pytest_plugins = ["pytester"]

SUITE = """
def test_knob(alertloop_esp32, alertloop_mqtt_capture, alertloop_unique_topic, request):
    assert alertloop_unique_topic == ""  # flashed boards keep the sketches' own topics
    assert type(alertloop_esp32).__name__ == "SerialEsp32"
    assert alertloop_esp32.baudrate == 57600  # the bench's baud rate reached the serial board
    assert request.config.getoption("--nodemcu") == "{leds}"
    alertloop_mqtt_capture.subscribe("/pot")
    alertloop_esp32.set_knob(64)
    alertloop_esp32.wait_for_published(64, timeout=5)
    alertloop_mqtt_capture.wait_for("/pot", lambda m: m.payload == b"64", timeout=5)

def test_fails_on_purpose(alertloop_esp32):
    alertloop_esp32.set_knob(12)
    alertloop_esp32.wait_for_published(12, timeout=5)
    assert False, "to see the serial log in the report"
"""


@pytest.fixture
def bench_of_sketches(alertloop_stack: Stack, tmp_path: Path) -> Iterator[tuple[str, str]]:
    programs = [
        HostFirmware(name, alertloop_stack.mqtt, client_id=f"bench-{name}", log_dir=tmp_path)
        for name in ("esp32_knob", "nodemcu_led")
    ]
    try:
        knob, leds = (program.start() for program in programs)
        yield knob, leds
    finally:
        for program in programs:
            program.stop()


def test_the_bench_boards_run_the_suite(
    pytester: pytest.Pytester, alertloop_stack: Stack, bench_of_sketches: tuple[str, str]
) -> None:
    knob, leds = bench_of_sketches
    pytester.makefile(
        ".yaml",
        bench=f"boards:\n  - {{name: knob-1, role: esp32, port: {knob}, baud: 57600}}\n"
        f"  - {{name: leds-1, role: nodemcu, port: {leds}}}\n",
    )
    pytester.makepyfile(SUITE.replace("{leds}", leds))
    result = pytester.runpytest_subprocess(
        "--alertloop-hil-bench", "bench.yaml", "--alertloop-stack", "external",
        "--alertloop-mqtt-url", alertloop_stack.mqtt.url,
        "--alertloop-influx-url", alertloop_stack.influx.url, "-p", "no:cacheprovider",
    )  # fmt: skip
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            f"*- Captured serial esp32 {knob} -*",
            "??:??:??.??? #AL knob override=12",
            "*#AL published value=12 seq=*",
        ]
    )
    result.stdout.fnmatch_lines([f"  knob-1 (esp32, esp32) on {knob}", "  leds-1 *"])
