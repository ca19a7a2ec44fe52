"""The simulated boards without a broker: ADC maths, knob, publishing logic, LEDs, Board API."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field

import pytest

from alertloop.hil.boards import (
    BackendNotBuilt,
    BoardNotStarted,
    IndicatorBoard,
    IndicatorRecorder,
    LedState,
    Published,
    SensorBoard,
    SensorRecorder,
    create_esp32,
    create_nodemcu,
)
from alertloop.services.common.config import MqttSettings
from alertloop.services.common.errors import TimeoutExpired
from alertloop.sim.board import MqttMessage, pubsub_state
from alertloop.sim.errors import SignalError
from alertloop.sim.esp32 import SimEsp32, adc_for_percent, percent_for_adc
from alertloop.sim.nodemcu import SimNodeMcu
from alertloop.sim.signals import Ramp

NOWHERE = MqttSettings("127.0.0.1", 1)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class FakeInfo:
    rc: int = 0


@dataclass
class FakeClient:
    sent: list[tuple[str, str, int]] = field(default_factory=list)

    def publish(self, topic: str, payload: str, qos: int = 0, retain: bool = False) -> FakeInfo:
        self.sent.append((topic, payload, qos))
        return FakeInfo()


def test_adc_round_trip_for_every_percent() -> None:
    assert [percent_for_adc(adc_for_percent(p)) for p in range(101)] == list(range(101))
    assert (adc_for_percent(0), adc_for_percent(100), adc_for_percent(150)) == (0, 4095, 4095)
    assert percent_for_adc(4094) == 99  # the sketch's integer division


def test_boards_implement_the_board_api() -> None:
    assert isinstance(SimEsp32(NOWHERE), SensorBoard)
    assert isinstance(SimNodeMcu(NOWHERE), IndicatorBoard)


def test_knob_set_and_follow() -> None:
    clock = FakeClock()
    board = SimEsp32(NOWHERE, clock=clock)
    assert board.knob == 0
    board.set_knob(42)
    assert board.knob == 42
    with pytest.raises(SignalError):
        board.set_knob(-1)
    board.follow(Ramp(0, 100, 10))
    board._on_thread_start()  # time 0 of the signal is when the board starts
    clock.now += 5
    assert board.knob == pytest.approx(50)
    board.set_knob(10)
    assert board.knob == 10
    with pytest.raises(TypeError):
        board.follow(3)  # type: ignore[arg-type]


def test_noise_is_seeded_and_clamped() -> None:
    def readings(seed: int) -> list[int]:
        board = SimEsp32(NOWHERE, noise=200, seed=seed)
        board.set_knob(100)
        return [board.read_adc() for _ in range(50)]

    first = readings(1)
    assert first == readings(1) != readings(2)
    assert max(first) == 4095 and min(first) < 4095


def test_publishes_on_ticks_with_json_and_seq() -> None:
    clock = FakeClock()
    board = SimEsp32(NOWHERE, topic="x/pot", period=0.5, json_payload=True, clock=clock, qos=1)
    client = FakeClient()
    board._client = client  # type: ignore[assignment]
    board.set_knob(60)
    board._on_thread_start()
    for step in (0.0, 0.2, 0.5, 0.6, 1.05):
        clock.now = 1000.0 + step
        board._tick(clock.now)
    assert [json.loads(p)["seq"] for _, p, _ in client.sent] == [1, 2, 3]
    assert {json.loads(p)["value"] for _, p, _ in client.sent} == {60}
    assert {(t, q) for t, _, q in client.sent} == {("x/pot", 1)}
    assert [p.seq for p in board.published] == [1, 2, 3]
    assert board.lateness == pytest.approx([0.0, 0.0, 0.05])
    assert "Publish [x/pot] value:60" in board.serial.lines
    assert board.serial.events[-1].get("seq") == "3"


def test_waiting_on_a_board_that_is_not_started_says_so() -> None:
    with pytest.raises(BoardNotStarted, match="esp32 is not running"):
        SimEsp32(NOWHERE).wait_for_published(1, timeout=0.1)
    with pytest.raises(BoardNotStarted):
        SimNodeMcu(NOWHERE).wait_for_led("red", timeout=0.1)


def _message(payload: bytes) -> MqttMessage:
    return MqttMessage("/alert", payload, 1, True, 0.0)


def test_nodemcu_default_vs_seed_compat_on_garbage() -> None:
    improved, seed = SimNodeMcu(NOWHERE), SimNodeMcu(NOWHERE, seed_compat=True)
    for board in (improved, seed):
        board._on_thread_start()
        board._on_message(_message(b"1"))
        assert board.led.name == "red"
        board._on_message(_message(b"oops"))
    assert improved.led == LedState(False, False, error=True)
    assert seed.led == LedState(False, True)
    assert improved.serial.lines[-2:] == [
        "Message arrived [/alert] ignored: payload 'oops' is not a number",
        "#AL led state=error red=0 green=0 reason=\"payload 'oops' is not a number\"",
    ]
    assert "Message arrived [/alert] value:0" in seed.serial.lines
    assert [c.state.name for c in improved.history] == ["off", "red", "error"]
    assert [c.state.name for c in seed.history] == ["off", "red", "green"]


def test_nodemcu_same_state_again_is_not_a_change() -> None:
    board = SimNodeMcu(NOWHERE)
    board._on_thread_start()
    for payload in (b"0", b"0", b"1", b"1", b"0"):
        board._on_message(_message(payload))
    assert [c.state.name for c in board.history] == ["off", "green", "red", "green"]
    times = [c.time for c in board.history]
    assert times == sorted(times)


class _Sensor(SensorRecorder):
    name = "fake sensor"
    running = True

    def start(self) -> _Sensor:
        return self

    def stop(self) -> None:
        pass


class _Indicator(IndicatorRecorder):
    name = "fake indicator"
    running = True

    def start(self) -> _Indicator:
        return self

    def stop(self) -> None:
        pass


def test_wait_for_published_sees_values_as_they_come() -> None:
    sensor = _Sensor()
    for seq, value in enumerate((10, 20, 80), start=1):
        threading.Timer(
            0.02 * seq, sensor._record_published, args=(Published(value, seq, seq),)
        ).start()
    assert sensor.wait_for_published(80, timeout=2).seq == 3
    assert sensor.wait_for_published(lambda p: p.value > 15, timeout=0.1).value == 20
    assert sensor.wait_for_published(lambda p: p.value > 15, timeout=0.1, since=3).value == 80
    with pytest.raises(
        TimeoutExpired, match=r"fake sensor to publish the value 99.*\[10, 20, 80\]"
    ):
        sensor.wait_for_published(99, timeout=0.05)


def test_wait_for_led_now_and_since() -> None:
    board = _Indicator()
    board._record_led(LedState(False, False), at=1.0)
    board._record_led(LedState(True, False), at=2.0)
    assert board.wait_for_led("red", timeout=0.1).time == 2.0
    threading.Timer(0.05, board._record_led, args=(LedState(False, True), 3.0)).start()
    assert board.wait_for_led(LedState(False, True), timeout=2).time == 3.0
    with pytest.raises(TimeoutExpired, match=r"LEDs to show red.*LEDs green"):
        board.wait_for_led("red", timeout=0.05, since=2.5)
    with pytest.raises(ValueError, match="unknown LED state"):
        board.wait_for_led("purple", timeout=0.05)


def test_pubsub_state_codes() -> None:
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.reasoncodes import ReasonCode

    assert pubsub_state(ReasonCode(PacketTypes.CONNACK, "Success")) == 0
    assert pubsub_state(ReasonCode(PacketTypes.CONNACK, "Bad user name or password")) == 4
    assert pubsub_state(ReasonCode(PacketTypes.CONNACK, "Not authorized")) == 5


def test_backend_factory_builds_sim_and_refuses_unknown_names() -> None:
    board = create_esp32("sim", mqtt=NOWHERE, topic="x/pot")
    assert isinstance(board, SimEsp32) and board.topic == "x/pot"
    assert isinstance(create_nodemcu(mqtt=NOWHERE), SimNodeMcu)
    with pytest.raises(BackendNotBuilt, match="--nodemcu=bogus: unknown board backend 'bogus'"):
        create_nodemcu("bogus", mqtt=NOWHERE)
