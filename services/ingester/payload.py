"""Turning an MQTT payload into a reading, or into a rejection with a reason.

Accepted forms (see DESIGN.md, "Wire and data contracts"):

* the seed's plain ASCII decimal integer, e.g. ``b"42"`` (surrounding whitespace allowed);
* a JSON object ``{"value": 42, "ts": <epoch ms>, "seq": <n>}`` where ``ts`` and ``seq`` are
  optional. ``ts`` must be a plausible time: from 2000-01-01T00:00:00Z
  (:data:`TS_MIN_MS`) to one day after the message was received (:data:`TS_MAX_AHEAD_MS`);
  a reading from 1970, from a clock that counts seconds or nanoseconds, or from the far
  future is rejected (``bad_ts``) rather than stored at a time nobody looks at.

Everything else raises :class:`PayloadRejected` with one of :data:`REASONS`.
"""

from __future__ import annotations

import json
import math
import re
import time
from dataclasses import dataclass

from alertloop.services.ingester.errors import PayloadRejected

__all__ = ["REASONS", "TS_MAX_AHEAD_MS", "TS_MIN_MS", "PayloadRules", "Reading", "parse_payload"]

#: Every reason a payload can be rejected for.
REASONS = (
    "empty",
    "too_long",
    "not_utf8",
    "not_a_number",
    "wrong_type",
    "out_of_bounds",
    "bad_json",
    "bad_ts",
    "bad_seq",
)

_INT = re.compile(r"[+-]?[0-9]+")
_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_SPACE = " \t\r\n"
#: Earliest accepted device time: 2000-01-01T00:00:00Z in epoch milliseconds.
TS_MIN_MS = 946_684_800_000
#: How far after the receive time a device time may be (a clock a little ahead is normal).
TS_MAX_AHEAD_MS = 24 * 3600 * 1000
_SECONDS = range(TS_MIN_MS // 1000, 10_000_000_000)  # 2000..2286 counted in seconds


@dataclass(frozen=True, slots=True)
class Reading:
    """One accepted payload: the integer value, the device time in ns if sent, the sequence number."""

    value: int
    ts_ns: int | None = None
    seq: int | None = None


@dataclass(frozen=True, slots=True)
class PayloadRules:
    """Bounds a payload must respect."""

    min_value: int = 0
    max_value: int = 100
    max_bytes: int = 256
    ts_min_ms: int = TS_MIN_MS
    ts_max_ahead_ms: int = TS_MAX_AHEAD_MS


DEFAULT_RULES = PayloadRules()


def parse_payload(
    raw: bytes, rules: PayloadRules = DEFAULT_RULES, now_ns: int | None = None
) -> Reading:
    """Parse one payload received at ``now_ns`` (epoch ns; default: now).

    Raises PayloadRejected (``.reason`` in :data:`REASONS`) for anything that is not an accepted
    form or whose value is outside ``rules``; never raises anything else.
    """
    size = len(raw)
    if size == 0:
        raise PayloadRejected("empty", "payload is empty")
    if size > rules.max_bytes:
        raise PayloadRejected("too_long", f"{size} bytes, limit {rules.max_bytes}")
    if raw.isdigit():  # the seed's form; bytes.isdigit() is ASCII-only
        return _bounded(Reading(int(raw)), rules)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PayloadRejected("not_utf8", f"invalid UTF-8 at byte {exc.start}") from None
    text = text.strip(_SPACE)
    if not text:
        raise PayloadRejected("empty", "payload is only whitespace")
    if text[0] == "{":
        return _bounded(_parse_json(text, rules, now_ns), rules)
    if _INT.fullmatch(text):
        return _bounded(Reading(int(text)), rules)
    if _NUMBER.fullmatch(text):
        raise PayloadRejected("wrong_type", f"{_clip(text)} is not an integer")
    raise PayloadRejected("not_a_number", f"{_clip(text)} is not a number")


def _parse_json(text: str, rules: PayloadRules, now_ns: int | None) -> Reading:
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise PayloadRejected("bad_json", f"invalid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise PayloadRejected("bad_json", "JSON payload must be an object")
    if "value" not in doc:
        raise PayloadRejected("bad_json", 'JSON object has no "value"')
    value = doc["value"]
    if not _is_int(value):
        raise PayloadRejected("wrong_type", f'"value" must be an integer, got {_kind(value)}')
    return Reading(value, _ts_ns(doc.get("ts"), rules, now_ns), _seq(doc.get("seq")))


def _ts_ns(ts: object, rules: PayloadRules, now_ns: int | None) -> int | None:
    if ts is None:
        return None
    if isinstance(ts, bool) or not isinstance(ts, int | float):
        raise PayloadRejected("bad_ts", f'"ts" must be epoch milliseconds, got {_kind(ts)}')
    if isinstance(ts, float) and not math.isfinite(ts):
        raise PayloadRejected("bad_ts", f'"ts" must be epoch milliseconds, got {ts!r}')
    latest = (time.time_ns() if now_ns is None else now_ns) // 1_000_000 + rules.ts_max_ahead_ms
    if rules.ts_min_ms <= ts <= latest:
        if isinstance(ts, int):
            return ts * 1_000_000
        return round(ts * 1000) * 1000  # microseconds: what a double holds exactly
    if ts < rules.ts_min_ms:
        hint = " (epoch seconds? ts is in milliseconds)" if int(ts) in _SECONDS else ""
        raise PayloadRejected(
            "bad_ts", f'"ts" {_clip(repr(ts))} is before {_iso(rules.ts_min_ms)}{hint}'
        )
    hint = " (micro- or nanoseconds? ts is in milliseconds)" if ts > latest * 100 else ""
    raise PayloadRejected(
        "bad_ts",
        f'"ts" {_clip(repr(ts))} is more than {rules.ts_max_ahead_ms // 1000} s '
        f"after the receive time{hint}",
    )


def _iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms // 1000))


def _seq(seq: object) -> int | None:
    if seq is None:
        return None
    if isinstance(seq, int) and not isinstance(seq, bool) and 0 <= seq < 2**63:
        return seq
    raise PayloadRejected(
        "bad_seq", f'"seq" must be a non-negative integer, got {_clip(repr(seq))}'
    )


def _bounded(reading: Reading, rules: PayloadRules) -> Reading:
    if rules.min_value <= reading.value <= rules.max_value:
        return reading
    raise PayloadRejected(
        "out_of_bounds", f"{reading.value} outside {rules.min_value}..{rules.max_value}"
    )


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _kind(value: object) -> str:
    return "null" if value is None else type(value).__name__


def _clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[:limit] + "..."
