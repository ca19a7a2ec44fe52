"""The C++ the boards run decides exactly as the Python simulator (host build with g++).

Also the host core's ``String`` (used by the host build of the sketches): ``toInt`` and ``trim``
as Arduino's, checked against ``alertloop.sim.leds.arduino_to_int``.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alertloop.sim.esp32 import percent_for_adc
from alertloop.sim.leds import LONG_MAX, LONG_MIN, arduino_to_int, decide_leds

FIRMWARE = Path(__file__).resolve().parents[2] / "firmware"


def _build(tmp_path_factory: pytest.TempPathFactory, name: str, *sources: str) -> Path:
    compiler = shutil.which("g++") or shutil.which("c++")
    if compiler is None:
        pytest.skip(f"no C++ compiler (g++) to build firmware/host/{name}.cpp")
    binary = tmp_path_factory.mktemp("fw") / name
    paths = [str(FIRMWARE / "host" / source) for source in sources]
    flags = ["-std=c++17", "-Wall", "-Wextra", "-Werror", "-O1"]
    subprocess.run([compiler, *flags, "-o", str(binary), *paths], check=True)
    return binary


@pytest.fixture(scope="module")
def logic_check(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build(tmp_path_factory, "logic_check", "logic_check.cpp")


@pytest.fixture(scope="module")
def string_check(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build(tmp_path_factory, "string_check", "string_check.cpp", "core/WString.cpp")


def _firmware_decisions(binary: Path, payloads: list[bytes]) -> list[list[str]]:
    stdin = "".join(p.hex() + "\n" for p in payloads)
    out = subprocess.run([str(binary)], input=stdin, capture_output=True, text=True, check=True)
    return [line.split() for line in out.stdout.splitlines()]


def _python_decision(payload: bytes) -> list[str]:
    seed = decide_leds(payload, seed_compat=True)
    strict = decide_leds(payload, seed_compat=False)
    # The board holds values in a 32-bit long; the simulator reports the unclamped number of
    # a refused payload, which only shows in the reason, so compare it clamped.
    strict_value = "-" if strict.value is None else str(max(LONG_MIN, min(LONG_MAX, strict.value)))
    return [seed.state.name, str(seed.value), strict.state.name, strict_value]


PAYLOAD = st.one_of(
    st.binary(max_size=12),
    st.text(alphabet=" \t\r\n+-0123456789abc.", max_size=14).map(str.encode),
    st.sampled_from([b"0", b"1", b" 1 ", b"+1", b"-0", b"2", b"1abc", b"abc", b"", b"99999999999"]),
)


@settings(max_examples=40, deadline=None)
@given(st.lists(PAYLOAD, min_size=1, max_size=40))
def test_led_decisions_match_the_simulator(logic_check: Path, payloads: list[bytes]) -> None:
    firmware = _firmware_decisions(logic_check, payloads)
    assert firmware == [_python_decision(p) for p in payloads]


def test_knob_percent_matches_the_simulator(logic_check: Path) -> None:
    out = subprocess.run([str(logic_check), "knob"], capture_output=True, text=True, check=True)
    assert [int(v) for v in out.stdout.split()] == [percent_for_adc(adc) for adc in range(4096)]


C_SPACE = b" \t\n\v\f\r"
TEXT = st.one_of(
    st.binary(max_size=12).map(lambda b: b.replace(b"\0", b"")),
    st.text(alphabet=" \t\r\v\f+-0123456789abc", max_size=14).map(str.encode),
    st.sampled_from([b"80", b" 80 ", b"-1", b"99999999999", b"-99999999999", b"+", b""]),
)


@settings(max_examples=40, deadline=None)
@given(st.lists(TEXT, min_size=1, max_size=40))
def test_core_string_to_int_and_trim_match_arduino(string_check: Path, texts: list[bytes]) -> None:
    stdin = "".join(t.hex() + "\n" for t in texts)
    out = subprocess.run(
        [str(string_check)], input=stdin, capture_output=True, text=True, check=True
    )
    expected = [[str(arduino_to_int(t)), t.strip(C_SPACE).hex() or "-"] for t in texts]
    assert [line.split() for line in out.stdout.splitlines()] == expected
