"""What a board writes on its serial console: the sketches' human lines and machine lines.

Human lines are the sketches' own (``Attempting MQTT connection...connected``). Machine lines
report events in a form a test can parse, from a simulated board, the host-built firmware or a
real board on a port alike::

    #AL mqtt state=connected
    #AL mqtt state=failed rc=-2
    #AL published value=42 seq=17
    #AL led state=red red=1 green=0
    #AL led state=error red=0 green=0 reason="payload 'abc' is not 0 or 1"

A machine line is ``#AL``, an event name, then ``key=value`` fields; a value with spaces or
quotes is a JSON string. ``format_event`` writes one, ``parse_event`` reads one back.
"""

from __future__ import annotations

import json
import re
import shlex
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from alertloop.services.common.deadline import wait_until

__all__ = ["EVENT_PREFIX", "SerialEvent", "SerialLine", "SerialLog", "format_event", "parse_event"]

EVENT_PREFIX = "#AL"
_PLAIN = re.compile(r"^[A-Za-z0-9_.:/+\-@]*$")


@dataclass(frozen=True)
class SerialLine:
    """One complete line and when it was completed (epoch seconds)."""

    time: float
    text: str


@dataclass(frozen=True)
class SerialEvent:
    """A parsed machine line: ``name`` and its fields as strings."""

    name: str
    fields: Mapping[str, str] = field(default_factory=dict)

    def get(self, key: str, default: str | None = None) -> str | None:
        return self.fields.get(key, default)


def format_event(name: str, **fields: object) -> str:
    """The machine line for event ``name`` with ``fields`` (bools as 1/0)."""
    parts = [EVENT_PREFIX, name]
    for key, value in fields.items():
        text = str(int(value)) if isinstance(value, bool) else str(value)
        parts.append(f"{key}={text if _PLAIN.match(text) else json.dumps(text)}")
    return " ".join(parts)


def parse_event(line: str) -> SerialEvent | None:
    """The event in a machine line, or None for a human line or a garbled one."""
    text = line.strip()
    if not text.startswith(EVENT_PREFIX + " "):
        return None
    try:
        words = shlex.split(text[len(EVENT_PREFIX) :], posix=True)
    except ValueError:
        return None
    if not words:
        return None
    fields: dict[str, str] = {}
    for word in words[1:]:
        key, eq, value = word.partition("=")
        if not eq:
            return None
        fields[key] = value
    return SerialEvent(words[0], fields)


class SerialLog:
    """A board's serial console: ``print``/``println`` like Arduino's ``Serial``, kept as lines.

    ``echo`` (for example ``print``) is called with each completed line. Thread-safe; keeps the
    last ``limit`` lines.
    """

    def __init__(self, echo: Callable[[str], None] | None = None, limit: int = 10_000) -> None:
        self._lines: deque[SerialLine] = deque(maxlen=limit)
        self._partial = ""
        self._lock = threading.Lock()
        self.echo = echo

    def print(self, text: object = "") -> None:
        """Write ``text`` without ending the line."""
        with self._lock:
            self._partial += str(text)

    def println(self, text: object = "") -> None:
        """Write ``text`` and end the line."""
        with self._lock:
            line = SerialLine(time.time(), self._partial + str(text))
            self._partial = ""
            self._lines.append(line)
        if self.echo is not None:
            self.echo(line.text)

    def event(self, name: str, **fields: object) -> None:
        """Write a machine line (ending any half-written human line first)."""
        with self._lock:
            pending = self._partial
        if pending:
            self.println()
        self.println(format_event(name, **fields))

    @property
    def lines(self) -> list[str]:
        """The completed lines' text, oldest first."""
        with self._lock:
            return [line.text for line in self._lines]

    @property
    def records(self) -> list[SerialLine]:
        """The completed lines with their times."""
        with self._lock:
            return list(self._lines)

    @property
    def events(self) -> list[SerialEvent]:
        """The machine lines, parsed."""
        return [event for line in self.lines if (event := parse_event(line)) is not None]

    def tail(self, count: int = 10) -> list[str]:
        """The last ``count`` lines."""
        return self.lines[-count:]

    def wait_for_line(self, pattern: str, timeout: float = 5.0, *, since: float = 0.0) -> str:
        """The first line (completed at or after ``since``) that ``pattern`` (a regex) matches.

        Raises TimeoutExpired, showing the last lines, when none does within ``timeout``."""
        regex = re.compile(pattern)

        def found() -> str | None:
            for record in self.records:
                if record.time >= since and regex.search(record.text):
                    return record.text
            return None

        return wait_until(
            found,
            timeout,
            what=f"a serial line matching {pattern!r}",
            state=lambda: self.tail(8),
        )
