"""InfluxDB 1.x line protocol: escaping, encoding one integer point, per-series timestamps.

InfluxDB 1.x cannot represent some names at all: a newline ends a line, a leading ``#`` makes
a comment, and a backslash before a separator or at the end of a tag value is misparsed (its
parser has no escape for the backslash itself). Such names raise :class:`EncodeError` instead
of producing a line the server would reject or store under a different name.
"""

from __future__ import annotations

from collections.abc import Mapping

from alertloop.services.ingester.errors import EncodeError

__all__ = [
    "LineEncoder",
    "SeriesClock",
    "check_name",
    "escape_measurement",
    "escape_tag",
    "tag_set",
]

_FORBIDDEN = ("\\", "\n", "\r")
_MEASUREMENT_TABLE = str.maketrans({",": "\\,", " ": "\\ "})
_TAG_TABLE = str.maketrans({",": "\\,", " ": "\\ ", "=": "\\="})


def check_name(text: str, what: str) -> str:
    """Return ``text`` if line protocol can carry it.

    Raises EncodeError when it is empty or holds a backslash, a newline or a carriage return.
    """
    if not text:
        raise EncodeError(f"{what} is empty")
    for bad in _FORBIDDEN:
        if bad in text:
            raise EncodeError(f"{what} {text!r} contains {bad!r}, which line protocol cannot carry")
    return text


def escape_measurement(name: str) -> str:
    """Escape a measurement name (commas and spaces). Raises EncodeError for unusable names."""
    check_name(name, "measurement")
    if name.startswith("#"):
        raise EncodeError(f"measurement {name!r} starts with '#', which makes a comment line")
    return name.translate(_MEASUREMENT_TABLE)


def escape_tag(text: str, what: str = "tag") -> str:
    """Escape a tag key, tag value or field key (commas, spaces, equals signs).

    Raises EncodeError for unusable text.
    """
    return check_name(text, what).translate(_TAG_TABLE)


def tag_set(tags: Mapping[str, str]) -> str:
    """The ``,k=v,...`` part of a line (keys sorted, as InfluxDB recommends); ``""`` for no tags.

    Raises EncodeError for an unusable key or value.
    """
    return "".join(
        f",{escape_tag(key, 'tag key')}={escape_tag(tags[key], f'tag {key!r} value')}"
        for key in sorted(tags)
    )


class LineEncoder:
    """Encodes integer points of one measurement and field: ``pot,device=a value=42i 17...``."""

    def __init__(self, measurement: str = "pot", field: str = "value") -> None:
        """Raises EncodeError when the measurement or field name is unusable."""
        self.measurement = measurement
        self.field = field
        self._prefix = escape_measurement(measurement)
        self._field = f" {escape_tag(field, 'field key')}="

    def line(self, tags: str, value: int, ts_ns: int) -> str:
        """One line with its newline; ``tags`` is a :func:`tag_set` string."""
        return f"{self._prefix}{tags}{self._field}{value}i {ts_ns}\n"


class SeriesClock:
    """Keeps timestamps strictly increasing per series, so points never overwrite each other.

    Two readings of one series received in the same nanosecond (or with the clock stepping back)
    get ``last + 1`` ns instead of the same time.
    """

    def __init__(self, max_series: int = 100_000) -> None:
        self._last: dict[str, int] = {}
        self._max_series = max_series

    def stamp(self, series: str, ts_ns: int) -> int:
        """The time to store for a point of ``series`` received at ``ts_ns``."""
        last = self._last.get(series)
        if last is not None and ts_ns <= last:
            ts_ns = last + 1
        elif last is None and len(self._last) >= self._max_series:
            self._last.clear()  # bound memory; the wall clock has moved on since these were set
        self._last[series] = ts_ns
        return ts_ns
