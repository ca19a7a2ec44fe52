"""What is wrong with a running ingester right now, for ``/healthz`` and for the logs.

Each thread of the pipeline reports the conditions it meets (``spool_full``,
``dead_letter_failing``, ...) with :meth:`Conditions.set` and clears them when they pass; a
failure it cannot recover from is :meth:`Conditions.fail`, which the process answers by
exiting non-zero. Logging goes through the same object so that a condition that lasts is
logged when it starts, then at most once per ``repeat`` seconds, and once when it ends: a full
disk gives a few lines a minute, never a line per message.
"""

from __future__ import annotations

import logging
import threading
import time

__all__ = ["DEGRADING", "Conditions"]

# Problems the ingester rides out without losing data: messages are still taken in,
# spooled and acknowledged, and the points wait in the spool until they can be written (a
# cursor that cannot be saved only means some points may be written twice, which InfluxDB
# stores once). With only these, /healthz says "degraded" and answers 200; any other problem
# (not subscribed, spool full or failing, dead letters lost, a fatal failure) is "failing", 503.
DEGRADING = frozenset({"influx_unreachable", "spool_read_failing", "spool_cursor_failing"})


class Conditions:
    """Named conditions with a detail each, plus at most one fatal failure."""

    def __init__(self, log: logging.Logger, repeat: float = 30.0) -> None:
        self._log = log
        self._repeat = repeat
        self._active: dict[str, str] = {}
        self._logged: dict[str, float] = {}  # name -> monotonic time of the last log line
        self._counts: dict[str, int] = {}  # times set since the last log line
        self._lock = threading.Lock()
        self.failed = threading.Event()
        self.failure: str | None = None

    def set(self, name: str, detail: str, level: int = logging.WARNING, **extra: object) -> None:
        """Report ``name`` (again); logs when it starts, then at most every ``repeat`` s."""
        now = time.monotonic()
        with self._lock:
            new = name not in self._active
            self._active[name] = detail
            self._counts[name] = self._counts.get(name, 0) + 1
            last = self._logged.get(name)
            if not new and last is not None and now - last < self._repeat:
                return
            times = self._counts[name]
            self._counts[name] = 0
            self._logged[name] = now
        fields = {"condition": name, "error": detail, **extra}
        if not new:
            fields["times"] = times
        self._log.log(level, f"{name}: {detail}" if new else f"{name} continues", extra=fields)

    def clear(self, name: str) -> None:
        """``name`` is over; logs once when it was active."""
        with self._lock:
            if self._active.pop(name, None) is None:
                return
            self._logged.pop(name, None)
            self._counts.pop(name, None)
        self._log.info(f"{name} is over", extra={"condition": name})

    def active(self, name: str) -> bool:
        return name in self._active

    def fail(self, reason: str) -> None:
        """Record a failure the ingester cannot recover from (the first one is kept)."""
        with self._lock:
            if self.failure is None:
                self.failure = reason
        self._log.error("ingester failed", extra={"error": reason})
        self.failed.set()

    def snapshot(self) -> dict[str, str]:
        """The active conditions, and ``failed`` with its reason once failed."""
        with self._lock:
            out = dict(self._active)
        if self.failure is not None:
            out["failed"] = self.failure
        return out
