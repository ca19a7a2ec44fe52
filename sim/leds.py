"""The NodeMCU sketch's LED logic, as pure functions.

The sketch clears both LEDs, then ``switch (data.toInt())``: ``1`` lights red, ``0`` green,
anything else leaves both off. Arduino's ``String::toInt()`` is ``atol()``, so an unparseable
payload reads as ``0`` and shows *green*: the seed reports "all clear" for garbage. The
default decision here is stricter: only ``0`` and ``1`` (surrounding whitespace allowed)
light an LED; anything else leaves both off in a distinct ``error`` state, with the reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from alertloop.sim.board_api.protocol import LedState

__all__ = ["LedDecision", "arduino_to_int", "decide_leds"]

LONG_MIN, LONG_MAX = -(2**31), 2**31 - 1  # ESP8266: 32-bit long
_C_SPACE = " \t\n\v\f\r"
_STRICT = re.compile(r"[+-]?[0-9]+")


def arduino_to_int(text: str | bytes) -> int:
    """Arduino ``String::toInt()`` (newlib ``atol``): skip leading C whitespace, take an
    optional sign and the digits up to the first non-digit; no digits gives 0. Out-of-range
    values clamp to the 32-bit ``long`` range, as ``strtol`` does.

    ``"1abc"`` -> 1, ``"abc"`` -> 0, ``" -7x"`` -> -7, ``"+"`` -> 0, ``"1.9"`` -> 1.
    """
    if isinstance(text, bytes):
        text = text.decode("latin-1")
    index = 0
    while index < len(text) and text[index] in _C_SPACE:
        index += 1
    sign = 1
    if index < len(text) and text[index] in "+-":
        sign = -1 if text[index] == "-" else 1
        index += 1
    start = index
    while index < len(text) and "0" <= text[index] <= "9":
        index += 1
    if index == start:
        return 0
    value = sign * int(text[start:index])
    return min(LONG_MAX, max(LONG_MIN, value))


@dataclass(frozen=True)
class LedDecision:
    """What the board does with one payload: the LEDs, the number the sketch prints, and why
    it refused the payload (``None`` when it did not)."""

    state: LedState
    value: int | None
    reason: str | None = None


def decide_leds(payload: bytes | str, seed_compat: bool = False) -> LedDecision:
    """The LEDs after receiving ``payload`` (the previous state never matters: the sketch
    clears both first)."""
    raw = payload if isinstance(payload, bytes) else payload.encode("utf-8", "replace")
    if seed_compat:
        value = arduino_to_int(raw)
        return LedDecision(LedState(red=value == 1, green=value == 0), value)
    text = raw.decode("ascii", "replace").strip(_C_SPACE)
    shown = raw[:40].decode("ascii", "backslashreplace")
    if not text:
        return LedDecision(LedState(False, False, error=True), None, "empty payload")
    if not _STRICT.fullmatch(text):
        return LedDecision(
            LedState(False, False, error=True), None, f"payload {shown!r} is not a number"
        )
    value = int(text)
    if value not in (0, 1):
        return LedDecision(
            LedState(False, False, error=True), value, f"value {value} is neither 0 nor 1"
        )
    return LedDecision(LedState(red=value == 1, green=value == 0), value)
