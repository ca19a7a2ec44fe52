"""Line-protocol encoding: escaping checked against a tokenizer that follows InfluxDB 1.x rules."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from alertloop.services.ingester.errors import EncodeError
from alertloop.services.ingester.lineprotocol import LineEncoder, SeriesClock, escape_tag, tag_set


def _split(text: str, separators: str) -> tuple[str, str, str]:
    """Split at the first unescaped separator: (before, separator, after)."""
    i = 0
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] in separators:
            return text[:i], text[i], text[i + 1 :]
        i += 1
    return text, "", ""


def _unescape(text: str) -> str:
    for char in ", =":
        text = text.replace("\\" + char, char)
    return text


def parse_line(line: str) -> tuple[str, dict[str, str], str, str, int]:
    """(measurement, tags, field key, field value, timestamp) the way InfluxDB 1.x reads a line."""
    assert line.endswith("\n") and "\n" not in line[:-1]
    line = line[:-1]
    measurement, sep, rest = _split(line, ", ")
    tags: dict[str, str] = {}
    while sep == ",":
        pair, sep, rest = _split(rest, ", ")
        key, eq, value = _split(pair, "=")
        assert eq == "=", pair
        tags[_unescape(key)] = _unescape(value)
    assert sep == " "
    field, sep, stamp = _split(rest, " ")
    key, eq, value = _split(field, "=")
    return _unescape(measurement), tags, _unescape(key), value, int(stamp)


names = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="\\\n\r"),
    min_size=1,
    max_size=20,
)


def test_seed_point() -> None:
    assert (
        LineEncoder().line("", 42, 1_700_000_000_000_000_000)
        == "pot value=42i 1700000000000000000\n"
    )


def test_tags_are_sorted_and_escaped() -> None:
    assert tag_set({"z": "a b", "device": "k,1=x"}) == ",device=k\\,1\\=x,z=a\\ b"


@given(names, names, st.dictionaries(names, names, max_size=4), st.integers(-(2**63), 2**63 - 1))
def test_encoded_lines_parse_back_to_their_parts(
    measurement: str, field: str, tags: dict[str, str], value: int
) -> None:
    assume(not measurement.startswith("#"))
    line = LineEncoder(measurement, field).line(tag_set(tags), value, 1234567890123456789)
    assert parse_line(line) == (measurement, tags, field, f"{value}i", 1234567890123456789)


@given(names, st.sampled_from(["\\", "\n", "\r"]), names)
def test_unrepresentable_text_is_refused(before: str, bad: str, after: str) -> None:
    with pytest.raises(EncodeError):
        escape_tag(before + bad + after)


@pytest.mark.parametrize(
    "measurement", ["", "#pot", "a\\b", "a\nb"], ids=["empty", "comment", "backslash", "newline"]
)
def test_unusable_measurements(measurement: str) -> None:
    with pytest.raises(EncodeError):
        LineEncoder(measurement)


def test_empty_tag_value_is_refused() -> None:
    with pytest.raises(EncodeError, match="empty"):
        tag_set({"device": ""})


@given(
    st.lists(
        st.tuples(st.sampled_from(["", ",device=a", ",device=b"]), st.integers(0, 5)), max_size=60
    )
)
def test_clock_is_strictly_increasing_per_series(events: list[tuple[str, int]]) -> None:
    clock = SeriesClock()
    last: dict[str, int] = {}
    for series, ts in events:
        stamped = clock.stamp(series, 1000 + ts)
        assert stamped >= 1000 + ts
        assert stamped > last.get(series, -1)
        last[series] = stamped


def test_clock_keeps_series_apart() -> None:
    clock = SeriesClock()
    assert clock.stamp(",device=a", 10) == 10
    assert clock.stamp(",device=b", 10) == 10
    assert clock.stamp(",device=a", 10) == 11
    assert clock.stamp(",device=a", 5) == 12
