"""The payload parser: the seed's integers, the JSON form, and every rejection reason."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alertloop.services.ingester.errors import PayloadRejected
from alertloop.services.ingester.payload import (
    REASONS,
    TS_MIN_MS,
    PayloadRules,
    Reading,
    parse_payload,
)

RULES = PayloadRules(min_value=0, max_value=100, max_bytes=256)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"42", Reading(42)),
        (b"0", Reading(0)),
        (b"100", Reading(100)),
        (b"007", Reading(7)),
        (b" 42\r\n", Reading(42)),
        (b"+5", Reading(5)),
        (b'{"value": 42}', Reading(42)),
        (b'{"value": 42, "ts": 1700000000123, "seq": 7}', Reading(42, 1700000000123000000, 7)),
        (b'{"value": 1, "ts": 1700000000123.5}', Reading(1, 1700000000123500000)),
        (b'{"value": 1, "ts": null, "seq": null, "extra": "ignored"}', Reading(1)),
    ],
    ids=[
        "seed",
        "zero",
        "max",
        "leading-zeros",
        "whitespace",
        "plus-sign",
        "json",
        "json-ts-seq",
        "json-fractional-ts",
        "json-nulls",
    ],
)
def test_accepted_payloads(raw: bytes, expected: Reading) -> None:
    assert parse_payload(raw, RULES) == expected


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "empty"),
        (b"  \n", "empty"),
        (b"1" * 257, "too_long"),
        (b"\xff\xfe", "not_utf8"),
        (b"abc", "not_a_number"),
        (b"nan", "not_a_number"),
        (b"4_2", "not_a_number"),
        ("٤٢".encode(), "not_a_number"),
        (b"42.5", "wrong_type"),
        (b"1e3", "wrong_type"),
        (b"101", "out_of_bounds"),
        (b"-1", "out_of_bounds"),
        (b'{"value": "42"}', "wrong_type"),
        (b'{"value": 42.0}', "wrong_type"),
        (b'{"value": true}', "wrong_type"),
        (b'{"value": null}', "wrong_type"),
        (b'{"value": 420}', "out_of_bounds"),
        (b'{"valu": 42}', "bad_json"),
        (b"{not json", "bad_json"),
        (b"[42]", "not_a_number"),
        (b'{"value": 4, "ts": "yesterday"}', "bad_ts"),
        (b'{"value": 4, "ts": -5}', "bad_ts"),
        (b'{"value": 4, "ts": 1e300}', "bad_ts"),
        (b'{"value": 4, "ts": true}', "bad_ts"),
        (b'{"value": 4, "seq": -1}', "bad_seq"),
        (b'{"value": 4, "seq": 1.5}', "bad_seq"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_rejected_payloads(raw: bytes, reason: str) -> None:
    with pytest.raises(PayloadRejected) as caught:
        parse_payload(raw, RULES)
    assert caught.value.reason == reason
    assert caught.value.detail


def test_bounds_come_from_the_rules() -> None:
    wide = PayloadRules(min_value=-10, max_value=4095, max_bytes=8)
    assert parse_payload(b"4095", wide).value == 4095
    assert parse_payload(b"-10", wide).value == -10
    with pytest.raises(PayloadRejected, match="too_long"):
        parse_payload(b"123456789", wide)


@given(st.integers(min_value=0, max_value=100))
def test_every_in_bounds_integer_round_trips(value: int) -> None:
    assert parse_payload(str(value).encode(), RULES) == Reading(value)


@given(
    st.integers(min_value=0, max_value=100),
    st.one_of(st.none(), st.integers(min_value=TS_MIN_MS, max_value=1_700_000_000_000)),
    st.one_of(st.none(), st.integers(min_value=0, max_value=2**63 - 1)),
)
def test_json_form_round_trips(value: int, ts: int | None, seq: int | None) -> None:
    doc: dict[str, object] = {"value": value}
    if ts is not None:
        doc["ts"] = ts
    if seq is not None:
        doc["seq"] = seq
    reading = parse_payload(json.dumps(doc).encode(), PayloadRules(max_bytes=1024))
    assert reading == Reading(value, None if ts is None else ts * 1_000_000, seq)


@given(st.binary(max_size=300))
def test_any_bytes_give_a_bounded_reading_or_a_known_reason(raw: bytes) -> None:
    try:
        reading = parse_payload(raw, RULES)
    except PayloadRejected as exc:
        assert exc.reason in REASONS
    else:
        assert RULES.min_value <= reading.value <= RULES.max_value
        assert len(raw) <= RULES.max_bytes


@given(st.text(max_size=100))
def test_any_text_gives_a_bounded_reading_or_a_known_reason(text: str) -> None:
    try:
        reading = parse_payload(text.encode(), RULES)
    except PayloadRejected as exc:
        assert exc.reason in REASONS
    else:
        assert isinstance(reading.value, int)
        assert RULES.min_value <= reading.value <= RULES.max_value


NOW_NS = 1_700_000_000_000_000_000  # 2023-11-14T22:13:20Z
NOW_MS = NOW_NS // 1_000_000


@pytest.mark.parametrize(
    ("ts", "detail"),
    [
        ("1e-9", "before 2000-01-01T00:00:00Z"),
        ("0", "before 2000"),
        ("-5", "before 2000"),
        ("946684799999", "before 2000"),
        ("NaN", "got nan"),
        ("-Infinity", "got -inf"),
        ("1700000000", "epoch seconds?"),
        ("1700000000000000000", "nanoseconds?"),
        (str(NOW_MS + 86_400_001), "more than 86400 s after the receive time"),
        ("4102444800000", "after the receive time"),
        ('"1700000000000"', "got str"),
        ("[1]", "got list"),
    ],
    ids=[
        "1e-9",
        "zero",
        "negative",
        "just-before-2000",
        "nan",
        "minus-infinity",
        "seconds",
        "nanoseconds",
        "one-day-and-1ms-ahead",
        "year-2100",
        "string",
        "list",
    ],
)
def test_implausible_device_times_are_rejected_with_a_reason(ts: str, detail: str) -> None:
    raw = b'{"value": 4, "ts": %s}' % ts.encode()
    with pytest.raises(PayloadRejected, match=re.escape(detail)) as caught:
        parse_payload(raw, RULES, NOW_NS)
    assert caught.value.reason == "bad_ts"


@pytest.mark.parametrize(
    "ts",
    [TS_MIN_MS, NOW_MS - 1, NOW_MS, NOW_MS + 86_400_000],
    ids=["2000-01-01", "just-before-receipt", "at-receipt", "one-day-ahead"],
)
def test_the_accepted_device_time_range_is_inclusive(ts: int) -> None:
    raw = b'{"value": 4, "ts": %d}' % ts
    assert parse_payload(raw, RULES, NOW_NS) == Reading(4, ts * 1_000_000)


def test_the_range_follows_the_rules() -> None:
    rules = PayloadRules(ts_min_ms=0, ts_max_ahead_ms=0)
    assert parse_payload(b'{"value": 4, "ts": 1}', rules, NOW_NS).ts_ns == 1_000_000
    with pytest.raises(PayloadRejected):
        parse_payload(b'{"value": 4, "ts": %d}' % (NOW_MS + 1), rules, NOW_NS)
