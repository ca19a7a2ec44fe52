"""The NodeMCU sketch's LED logic: Arduino ``toInt`` and the seed vs the default behaviour."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alertloop.sim.board_api.protocol import LedState
from alertloop.sim.leds import arduino_to_int, decide_leds


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1", 1), ("0", 0), ("1abc", 1), ("abc", 0), ("", 0), ("  \t\n42", 42), ("-7x", -7),
        ("+3", 3), ("+", 0), ("-", 0), ("1.9", 1), (" 1 ", 1), ("x1", 0), ("- 1", 0),
        ("0001", 1), ("99999999999", 2**31 - 1), ("-99999999999", -(2**31)), ("1\x002", 1),
    ],
    ids=lambda v: repr(v),
)  # fmt: skip
def test_arduino_to_int(text: str, expected: int) -> None:
    assert arduino_to_int(text) == expected
    assert arduino_to_int(text.encode("latin-1")) == expected


@given(st.integers(-(2**31), 2**31 - 1), st.text(alphabet="abc.xyz ,;", max_size=5))
def test_to_int_reads_the_leading_number(number: int, tail: str) -> None:
    assert arduino_to_int(f" {number}{tail}") == number


@pytest.mark.parametrize(
    ("payload", "seed", "improved"),
    [
        (b"1", "red", "red"),
        (b"0", "green", "green"),
        (b" 1\r\n", "red", "red"),
        (b"abc", "green", "error"),
        (b"", "green", "error"),
        (b"1abc", "red", "error"),
        (b"2", "off", "error"),
        (b"-1", "off", "error"),
        (b"\xff\xfe", "green", "error"),
        (b'{"state":"alerting"}', "green", "error"),
    ],
    ids=[
        "one",
        "zero",
        "whitespace",
        "garbage",
        "empty",
        "1abc",
        "two",
        "minus-one",
        "binary",
        "json",
    ],
)
def test_seed_compat_vs_default(payload: bytes, seed: str, improved: str) -> None:
    assert decide_leds(payload, seed_compat=True).state.name == seed
    assert decide_leds(payload).state.name == improved


def test_unparseable_payload_is_green_in_seed_mode_only() -> None:
    seed = decide_leds(b"abc", seed_compat=True)
    improved = decide_leds(b"abc")
    assert seed.state == LedState(red=False, green=True)
    assert seed.value == 0 and seed.reason is None
    assert improved.state == LedState(False, False, error=True)
    assert improved.reason == "payload 'abc' is not a number"
    assert decide_leds(b"2").reason == "value 2 is neither 0 nor 1"


def test_led_state_names() -> None:
    assert [LedState.named(n).name for n in ("red", "green", "off", "error", "both")] == [
        "red", "green", "off", "error", "both",
    ]  # fmt: skip
    assert LedState(True, False) == LedState.named("red")
    assert str(LedState(False, True)) == "green"
    with pytest.raises(ValueError, match="unknown LED state 'blue'"):
        LedState.named("blue")
