"""The real sketches, built for this machine, against the real mosquitto (firmware/host/).

Each board is the host binary of a sketch with its serial console on a pseudo-terminal, read
through ``SerialMonitor`` as a real board's port would be. The knob is turned and the LED pins
are read through the host core's ``#HW`` control lines, not through what the sketch prints.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import selectors
import shutil
import signal
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from alertloop.hil.capture import MqttCapture
from alertloop.hil.serial_monitor import SerialMonitor
from alertloop.hil.stack import NativeStack
from alertloop.services.common.config import MqttSettings
from alertloop.services.common.deadline import Deadline, wait_until

FIRMWARE = Path(__file__).resolve().parents[2] / "firmware"
BUILD = FIRMWARE / "host" / "build"
START_TIMEOUT = 10.0  # setup() waits 1.5 s, a failed connect 5 s
RECONNECT_TIMEOUT = 15.0


@pytest.fixture(scope="module")
def firmware() -> Path:
    """The host build, made (incrementally) with ``make -C firmware host``."""
    missing = [tool for tool in ("g++", "pkg-config", "make") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"no {', '.join(missing)} to build the sketches; run 'make setup'")
    probe = subprocess.run(["pkg-config", "--exists", "libmosquitto"], check=False)
    if probe.returncode != 0:
        pytest.skip("libmosquitto-dev is not installed; run 'make setup'")
    subprocess.run(["make", "-s", "-C", str(FIRMWARE), "host"], check=True)
    return BUILD


class HostBoard:
    """One sketch binary on a pty: start, send control lines, read pins, stop or kill."""

    def __init__(self, binary: Path, mqtt: MqttSettings, prefix: str, log_dir: Path) -> None:
        self.client_id = f"{binary.name}-{uuid.uuid4().hex[:8]}"
        env = dict(
            os.environ,
            ALERTLOOP_MQTT_HOST=mqtt.host,
            ALERTLOOP_MQTT_PORT=str(mqtt.port),
            ALERTLOOP_MQTT_USER=mqtt.username or "",
            ALERTLOOP_MQTT_PASSWORD=mqtt.password or "",
            ALERTLOOP_TOPIC_PREFIX=prefix,
            ALERTLOOP_CLIENT_ID=self.client_id,
        )
        self.process = subprocess.Popen(
            [str(binary), "--pty"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
        )
        self.path = self._pty_path()
        self.monitor = SerialMonitor(self.path, log_path=log_dir / f"{self.client_id}.log").start()
        self.command("#HW status", r"^#HW status ")  # the line works both ways

    def _pty_path(self) -> str:
        assert self.process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            if not selector.select(START_TIMEOUT):
                raise AssertionError(f"{self.client_id} printed no '#HW pty' line")
        line = self.process.stdout.readline().decode()
        found = re.match(r"^#HW pty path=(\S+)$", line.strip())
        assert found, f"unexpected first line {line!r}"
        return found.group(1)

    def command(self, line: str, answer: str, timeout: float = 5.0) -> str:
        """Send a line and return the first later line matching ``answer`` (a regex)."""
        mark = self.monitor.mark()
        self.monitor.send(line)
        return self.monitor.expect(answer, timeout, after=mark).string

    def set_adc(self, pin: int, value: int) -> None:
        self.command(f"#HW adc pin={pin} value={value}", rf"^#HW adc pin={pin} value={value}$")

    def pins(self) -> dict[int, int]:
        answer = self.command("#HW pins", r"^#HW pins( p\d+=\d)*$")
        return {int(pin): int(level) for pin, level in re.findall(r"p(\d+)=(\d)", answer)}

    def wait_for_pin(self, pin: int, level: int, timeout: float = 5.0, after: int = 0) -> None:
        self.monitor.expect(rf"^#HW pin pin={pin} level={level} ms=\d+$", timeout, after=after)

    def wait_for_led_line(self, state: str, timeout: float = 5.0, after: int = 0) -> int:
        """Wait for the sketch's ``#AL led`` line (its callback is done); returns a mark after it."""
        self.monitor.expect(rf"^#AL led state={state} ", timeout, after=after)
        return self.monitor.mark()

    def stop(self) -> int:
        """SIGTERM: the sketch's process ends cleanly; returns its exit status."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(10)

    def kill(self) -> None:
        """SIGKILL: like pulling the board's power."""
        self.process.kill()
        self.process.wait(10)

    def close(self) -> None:
        if self.process.poll() is None:
            self.kill()
        self.monitor.stop()
        if self.process.stdout is not None:
            self.process.stdout.close()


BoardFactory = Callable[..., HostBoard]


@pytest.fixture
def host_board(
    firmware: Path, alertloop_mqtt_broker: MqttSettings, alertloop_unique_topic: str, tmp_path: Path
) -> Iterator[BoardFactory]:
    """Start host-built boards (``host_board("esp32_knob")``); all are stopped at teardown."""
    boards: list[HostBoard] = []

    def start(sketch: str, *, mqtt: MqttSettings | None = None) -> HostBoard:
        board = HostBoard(
            firmware / sketch, mqtt or alertloop_mqtt_broker, alertloop_unique_topic, tmp_path
        )
        boards.append(board)
        return board

    try:
        yield start
    finally:
        for board in boards:
            board.close()


def _payload(expected: bytes) -> Callable[[object], bool]:
    return lambda message: getattr(message, "payload", None) == expected


def test_knob_publishes_the_adc_reading(
    host_board: BoardFactory, alertloop_mqtt_capture: MqttCapture, alertloop_unique_topic: str
) -> None:
    alertloop_mqtt_capture.subscribe(f"{alertloop_unique_topic}/#")
    knob = host_board("esp32_knob")
    status = f"{alertloop_unique_topic}/status/com.gonzalo123.esp32"
    alertloop_mqtt_capture.wait_for(status, _payload(b"online"), timeout=START_TIMEOUT)
    for adc, percent in ((2048, b"50"), (4095, b"100"), (0, b"0"), (1000, b"24")):
        knob.set_adc(32, adc)  # the seed's formula: analogRead * 100 / 4095
        alertloop_mqtt_capture.wait_for(
            f"{alertloop_unique_topic}/pot", _payload(percent), timeout=5
        )
    assert all(
        m.qos == 0 and not m.retain
        for m in alertloop_mqtt_capture.on(f"{alertloop_unique_topic}/pot")
    )


def test_led_follows_the_retained_alert(
    host_board: BoardFactory, alertloop_mqtt_capture: MqttCapture, alertloop_unique_topic: str
) -> None:
    alertloop_mqtt_capture.publish(f"{alertloop_unique_topic}/alert", "1", qos=1, retain=True)
    leds = host_board("nodemcu_led")  # joins late: the retained 1 is waiting
    leds.wait_for_pin(4, 1, timeout=START_TIMEOUT)
    assert leds.pins() == {4: 1, 5: 0}

    mark = leds.monitor.mark()
    alertloop_mqtt_capture.publish(f"{alertloop_unique_topic}/alert", "0", qos=1, retain=True)
    leds.wait_for_pin(5, 1, after=mark)
    assert leds.pins() == {4: 0, 5: 1}


@pytest.mark.parametrize(
    ("sketch", "payload", "expected"),
    [
        ("nodemcu_led", b"abc", {4: 0, 5: 0}),
        ("nodemcu_led", b"", {4: 0, 5: 0}),
        ("nodemcu_led", b"1abc", {4: 0, 5: 0}),
        ("nodemcu_led_seed", b"abc", {4: 0, 5: 1}),
        ("nodemcu_led_seed", b"", {4: 0, 5: 1}),
        ("nodemcu_led_seed", b"1abc", {4: 1, 5: 0}),
    ],
    ids=["strict-abc", "strict-empty", "strict-1abc", "seed-abc", "seed-empty", "seed-1abc"],
)
def test_garbage_payloads_strict_and_seed(
    host_board: BoardFactory,
    alertloop_mqtt_capture: MqttCapture,
    alertloop_unique_topic: str,
    sketch: str,
    payload: bytes,
    expected: dict[int, int],
) -> None:
    # The retained 1 arrives once the subscription is in place (the sketch prints
    # "subscribed" when SUBSCRIBE is sent, before the broker has it, as on a board).
    alertloop_mqtt_capture.publish(f"{alertloop_unique_topic}/alert", "1", qos=1, retain=True)
    leds = host_board(sketch)
    leds.wait_for_pin(4, 1, timeout=START_TIMEOUT)
    mark = leds.wait_for_led_line("red")

    alertloop_mqtt_capture.publish(f"{alertloop_unique_topic}/alert", payload, qos=1)
    leds.monitor.expect(r"^#AL led state=", 5, after=mark)
    assert leds.pins() == expected


def test_incoming_packet_above_256_bytes_is_dropped(
    host_board: BoardFactory, alertloop_mqtt_capture: MqttCapture, alertloop_unique_topic: str
) -> None:
    alertloop_mqtt_capture.publish(f"{alertloop_unique_topic}/alert", "0", qos=1, retain=True)
    leds = host_board("nodemcu_led")
    leds.wait_for_pin(5, 1, timeout=START_TIMEOUT)
    mark = leds.wait_for_led_line("green")
    # 2 + len("/alert") + 2 (QoS 1 id) + payload, plus a 3-byte fixed header: 257 bytes.
    alertloop_mqtt_capture.publish(f"{alertloop_unique_topic}/alert", "1" + " " * 243, qos=1)
    alertloop_mqtt_capture.publish(
        f"{alertloop_unique_topic}/alert", "1" + " " * 242, qos=1
    )  # 256: fits
    leds.monitor.expect(r"^#AL led state=red", 5, after=mark)
    led_lines = [line.text for line in leds.monitor.lines[mark:] if "#AL led" in line.text]
    assert len(led_lines) == 1, led_lines


def test_will_on_kill_and_offline_on_clean_stop(
    host_board: BoardFactory, alertloop_mqtt_capture: MqttCapture, alertloop_unique_topic: str
) -> None:
    status = f"{alertloop_unique_topic}/status/com.gonzalo123.nodemcu"
    alertloop_mqtt_capture.subscribe(status)
    first = host_board("nodemcu_led")
    alertloop_mqtt_capture.wait_for(status, _payload(b"online"), timeout=START_TIMEOUT)
    first.kill()
    alertloop_mqtt_capture.wait_for(status, _payload(b"offline"), timeout=5)

    onlines = len([m for m in alertloop_mqtt_capture.on(status) if m.payload == b"online"])
    second = host_board("nodemcu_led")
    wait_until(
        lambda: (
            len([m for m in alertloop_mqtt_capture.on(status) if m.payload == b"online"]) > onlines
        ),
        START_TIMEOUT,
        what="the second board online",
    )
    offlines = len(alertloop_mqtt_capture.on(status)) - onlines - 1
    assert second.stop() == 0
    wait_until(
        lambda: (
            len([m for m in alertloop_mqtt_capture.on(status) if m.payload == b"offline"])
            > offlines
        ),
        5,
        what="offline after a clean stop",
    )


def test_sketches_reconnect_after_broker_restart(
    host_board: BoardFactory,
    alertloop_native_stack_factory: Callable[..., NativeStack],
    alertloop_unique_topic: str,
) -> None:
    own = alertloop_native_stack_factory()
    knob = host_board("esp32_knob", mqtt=own.mqtt)
    leds = host_board("nodemcu_led", mqtt=own.mqtt)
    knob.monitor.expect(r"^#AL published value=", START_TIMEOUT)
    retainer = MqttCapture(own.mqtt).start()
    retainer.publish(f"{alertloop_unique_topic}/alert", "0", qos=1, retain=True)
    retainer.close(clear_retained=False)  # the broker is the test's own
    leds.wait_for_pin(5, 1, timeout=START_TIMEOUT)

    broker = own.servers["mqtt"]
    knob_mark, leds_mark = knob.monitor.mark(), leds.monitor.mark()
    broker.stop()
    # The sketch's own retry: PubSubClient's state -2, then another try 5 s later.
    knob.monitor.expect(r"^#AL mqtt state=failed rc=-2$", 10, after=knob_mark)
    leds.monitor.expect(r"failed, rc=-2 try again in 5 seconds", 10, after=leds_mark)
    broker.start()
    knob.monitor.expect(r"^#AL mqtt state=connected$", RECONNECT_TIMEOUT, after=knob_mark)
    leds.monitor.expect(r"^#AL mqtt state=subscribed$", RECONNECT_TIMEOUT, after=leds_mark)

    with MqttCapture(own.mqtt) as capture:
        capture.subscribe(f"{alertloop_unique_topic}/pot")
        knob.set_adc(32, 4095)
        capture.wait_for(f"{alertloop_unique_topic}/pot", _payload(b"100"), timeout=5)
        mark = leds.monitor.mark()
        capture.publish(f"{alertloop_unique_topic}/alert", "1", qos=1, retain=True)
        leds.wait_for_pin(4, 1, after=mark)  # resubscribed after the restart


def test_refused_login_gives_pubsubclient_state(
    host_board: BoardFactory, alertloop_native_stack_factory: Callable[..., NativeStack]
) -> None:
    own = alertloop_native_stack_factory(mqtt_users={"board": "right"})
    wrong = MqttSettings(own.mqtt.host, own.mqtt.port, "board", "wrong")
    refused = host_board("esp32_knob", mqtt=wrong)
    # mosquitto 2 answers a wrong password with CONNACK 5: MQTT_CONNECT_UNAUTHORIZED.
    refused.monitor.expect(
        r"^Attempting MQTT connection\.\.\.failed, rc=5 try again", START_TIMEOUT
    )
    refused.monitor.expect(r"^#AL mqtt state=failed rc=5$", 1)
    allowed = host_board("esp32_knob", mqtt=own.mqtt)
    allowed.monitor.expect(r"^#AL mqtt state=connected$", START_TIMEOUT)


def test_wifi_drop_and_return(
    host_board: BoardFactory, alertloop_mqtt_capture: MqttCapture, alertloop_unique_topic: str
) -> None:
    status = f"{alertloop_unique_topic}/status/com.gonzalo123.esp32"
    alertloop_mqtt_capture.subscribe(f"{alertloop_unique_topic}/#")
    knob = host_board("esp32_knob")
    alertloop_mqtt_capture.wait_for(status, _payload(b"online"), timeout=START_TIMEOUT)

    mark = knob.monitor.mark()
    knob.command("#HW wifi state=down for_ms=2000", r"^#HW wifi state=down$")
    alertloop_mqtt_capture.wait_for(
        status, _payload(b"offline"), timeout=5
    )  # dropped: the broker's will
    knob.monitor.expect(r"^#AL mqtt state=failed rc=-2$", 5, after=mark)
    assert "wifi=down" in knob.command("#HW status", r"^#HW status ")
    knob.monitor.expect(r"^#HW wifi state=up$", 5, after=mark)
    knob.monitor.expect(r"^#AL mqtt state=connected$", RECONNECT_TIMEOUT, after=mark)
    back = len(alertloop_mqtt_capture.on(f"{alertloop_unique_topic}/pot"))
    knob.set_adc(32, 2048)
    alertloop_mqtt_capture.wait_for(
        f"{alertloop_unique_topic}/pot",
        lambda m: (
            m.payload == b"50"
            and alertloop_mqtt_capture.on(f"{alertloop_unique_topic}/pot").index(m) >= back
        ),
        timeout=5,
    )


def test_stdio_mode_control_lines_and_end_of_input(firmware: Path) -> None:
    """Without a pty: Serial is stdin/stdout, and the process ends when stdin does."""
    commands = "#HW adc pin=32 value=5000\n#HW adc pin=32 value=4095\n#HW pins\n#HW nope\n"
    env = dict(os.environ, ALERTLOOP_MQTT_PORT="1", ALERTLOOP_SERIAL="stdio")
    deadline = Deadline(10)
    done = subprocess.run(
        [str(firmware / "nodemcu_led")],
        input=commands.encode(),
        env=env,
        capture_output=True,
        timeout=deadline.remaining,
        check=False,
    )
    lines = done.stdout.decode().splitlines()
    assert done.returncode == 0
    assert lines[0].startswith("#HW boot board=esp8266 sketch=nodemcu_led")
    hw = [line for line in lines if line.startswith("#HW ") and not line.startswith("#HW boot")]
    assert hw == [
        '#HW error reason="adc value must be 0..1023 on a pin 0..255"',
        '#HW error reason="adc value must be 0..1023 on a pin 0..255"',
        "#HW pins p4=0 p5=0",
        "#HW error reason=\"unknown command 'nope' (adc, pins, wifi, status)\"",
    ]


def test_serial_output_never_blocks_the_sketch(
    firmware: Path,
    alertloop_mqtt_broker: MqttSettings,
    alertloop_mqtt_capture: MqttCapture,
    alertloop_unique_topic: str,
) -> None:
    """Nobody reads the pty: the sketch keeps running and the oldest output is dropped."""
    alertloop_mqtt_capture.subscribe(f"{alertloop_unique_topic}/pot")
    env = dict(
        os.environ,
        ALERTLOOP_MQTT_PORT=str(alertloop_mqtt_broker.port),
        ALERTLOOP_TOPIC_PREFIX=alertloop_unique_topic,
        ALERTLOOP_CLIENT_ID=f"flood-{uuid.uuid4().hex[:8]}",
    )
    process = subprocess.Popen(
        [str(firmware / "esp32_knob"), "--pty"], env=env, stdout=subprocess.PIPE
    )
    try:
        assert process.stdout is not None
        path = process.stdout.readline().decode().split("path=")[1].strip()
        port = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        try:
            # Once loop() runs, the sketch reads its commands as they come.
            alertloop_mqtt_capture.wait_for(f"{alertloop_unique_topic}/pot", timeout=START_TIMEOUT)
            # 8000 commands, each answered with a ~27-byte line: far more than the 64 KiB
            # the process keeps plus the terminal's own buffer.
            commands = b"#AL status\n" * 8000
            deadline = Deadline(20)
            while commands and not deadline.expired:
                try:
                    commands = commands[os.write(port, commands) :]
                except BlockingIOError:
                    select.select([], [port], [], deadline.remaining)
            assert not commands, "the process stopped reading its serial input"
            before = len(alertloop_mqtt_capture.on(f"{alertloop_unique_topic}/pot"))
            wait_until(
                lambda: (
                    len(alertloop_mqtt_capture.on(f"{alertloop_unique_topic}/pot")) >= before + 2
                ),
                START_TIMEOUT,
                what="publishes while nobody reads the serial line",
            )
            # Everything written before the answer to a marker has been sent by then.
            os.write(port, b"#HW status\n")
            received = b""
            while b"#HW status board=" not in received and not deadline.expired:
                select.select([port], [], [], deadline.remaining)
                with contextlib.suppress(BlockingIOError):
                    received += os.read(port, 65536)
        finally:
            os.close(port)
        answers = [line for line in received.split(b"\n") if b"#AL status" in line]
        assert 0 < len(answers) < 8000  # the oldest were dropped...
        assert len(received) < 100_000
        # Whole lines are dropped; only the line where the terminal's own buffer ends and the
        # process's queue resumes may be cut.
        cut = [line for line in answers if not re.fullmatch(rb"#AL status mqtt=[01] seq=\d+", line)]
        assert len(cut) <= 1, cut
    finally:
        process.terminate()
        process.wait(10)
        if process.stdout is not None:
            process.stdout.close()
