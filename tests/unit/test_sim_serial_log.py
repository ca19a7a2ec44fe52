"""The serial console model: Arduino print/println, machine lines, waiting for a line."""

from __future__ import annotations

import threading

import pytest

from alertloop.services.common.errors import TimeoutExpired
from alertloop.sim.serial_log import SerialLog, format_event, parse_event


def test_print_and_println_build_lines_like_arduino() -> None:
    echoed: list[str] = []
    log = SerialLog(echo=echoed.append)
    log.print("Attempting MQTT connection...")
    assert log.lines == []
    log.println("connected")
    log.println()
    assert log.lines == ["Attempting MQTT connection...connected", ""]
    assert echoed == log.lines


def test_event_ends_a_half_written_line() -> None:
    log = SerialLog()
    log.print("Attempting MQTT connection...")
    log.event("mqtt", state="failed", rc=-2)
    assert log.lines == ["Attempting MQTT connection...", "#AL mqtt state=failed rc=-2"]
    assert [e.name for e in log.events] == ["mqtt"]
    assert log.events[0].get("rc") == "-2"


def test_machine_lines_round_trip() -> None:
    line = format_event("led", state="error", red=False, green=False, reason="payload 'x' is bad")
    assert line == "#AL led state=error red=0 green=0 reason=\"payload 'x' is bad\""
    event = parse_event(line)
    assert event is not None
    assert event.name == "led"
    assert dict(event.fields) == {
        "state": "error",
        "red": "0",
        "green": "0",
        "reason": "payload 'x' is bad",
    }


@pytest.mark.parametrize(
    "line",
    ["connected", "#AL", "#ALled state=red", "#AL led state", '#AL led reason="open'],
    ids=["human", "empty", "no-space", "no-equals", "open-quote"],
)
def test_not_machine_lines(line: str) -> None:
    assert parse_event(line) is None


def test_wait_for_line() -> None:
    log = SerialLog()
    timer = threading.Timer(0.05, log.println, args=("failed, rc=-2 try again in 5 seconds",))
    timer.start()
    assert log.wait_for_line(r"rc=-2", timeout=2).startswith("failed")
    with pytest.raises(TimeoutExpired, match=r"serial line matching 'connected'.*rc=-2"):
        log.wait_for_line("connected", timeout=0.05)


def test_limit_keeps_the_last_lines() -> None:
    log = SerialLog(limit=3)
    for number in range(5):
        log.println(number)
    assert log.lines == ["2", "3", "4"]
