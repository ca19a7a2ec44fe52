"""SerialMonitor on a real pseudo-terminal, as a host-built or USB board would present it."""

from __future__ import annotations

import os
import tty
from pathlib import Path

import pytest

from alertloop.hil.serial_monitor import SerialMonitor, SerialMonitorError
from alertloop.services.common.errors import TimeoutExpired


@pytest.fixture
def pty_pair():
    master, slave = os.openpty()
    tty.setraw(slave)
    try:
        yield master, os.ttyname(slave)
    finally:
        os.close(master)
        os.close(slave)


def test_lines_events_and_log(pty_pair, tmp_path: Path) -> None:
    master, path = pty_pair
    log = tmp_path / "board.log"
    with SerialMonitor(path, log_path=log) as monitor:
        os.write(
            master,
            b"Attempting MQTT connection...connected\r\n#AL led state=red red=1 green=0\r\npart",
        )
        monitor.expect(r"connected$", timeout=5)
        event = monitor.wait_for_event("led", lambda e: e.get("state") == "red", timeout=5)
        assert event.get("red") == "1"
        os.write(master, b"ial line\n")
        assert monitor.expect(r"^partial line$", timeout=5)
    assert "#AL led state=red" in log.read_text()


def test_send_reaches_the_board(pty_pair) -> None:
    master, path = pty_pair
    with SerialMonitor(path) as monitor:
        monitor.send("#AL knob value=80")
        received = b""
        while not received.endswith(b"\n"):
            received += os.read(master, 100)
    assert received == b"#AL knob value=80\n"


def test_timeout_shows_last_lines(pty_pair) -> None:
    master, path = pty_pair
    with SerialMonitor(path) as monitor:
        os.write(master, b"hello\n")
        monitor.expect("hello", timeout=5)
        with pytest.raises(
            TimeoutExpired, match=r"(?s)waiting for a line matching 'red'.*hello.*hint"
        ):
            monitor.expect("red", timeout=0.2)


def test_missing_port_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SerialMonitorError, match="cannot open serial port"):
        SerialMonitor(str(tmp_path / "ttyNOPE")).start()
