"""The writer thread: what the spool holds goes to InfluxDB, in batches that grow with the load.

It takes whatever the spool holds as soon as the previous write has finished (a lone message is
stored within milliseconds); after a write of 16 points or more it pauses 20 ms so that batches
grow under load. Failed writes are retried with backoff and the batch stays in the spool;
points InfluxDB refuses are dead-lettered. A spool that cannot be read is retried
:data:`READ_ATTEMPTS` times with backoff (also while draining at stop, within the drain's
deadline), then the loop reports the failure and ends: it never spins.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable

from alertloop.services.common.deadline import Deadline
from alertloop.services.ingester.config import IngesterConfig
from alertloop.services.ingester.deadletter import DeadLetter
from alertloop.services.ingester.errors import SpoolError, WriteFailed
from alertloop.services.ingester.health import Conditions
from alertloop.services.ingester.metrics import IngesterMetrics
from alertloop.services.ingester.spool import Spool
from alertloop.services.ingester.writer import Backoff, InfluxWriter

__all__ = ["READ_ATTEMPTS", "WriterLoop"]

log = logging.getLogger(__name__)

_IDLE_PING = 5.0  # seconds without writes after which the writer pings InfluxDB
_LINGER = 0.02  # pause after a write of at least _LINGER_FROM points (s)
_LINGER_FROM = 16
READ_ATTEMPTS = 6  # consecutive spool read failures before the loop gives up


class WriterLoop:
    """The body of the writer thread of one ingester (``run``), and what it found out."""

    def __init__(
        self,
        cfg: IngesterConfig,
        spool: Spool,
        writer: InfluxWriter,
        *,
        conditions: Conditions,
        counts: Counter[str],
        metrics: IngesterMetrics,
        dead_letter: Callable[[list[DeadLetter]], None],
        fail: Callable[[str], None],
    ) -> None:
        self._cfg = cfg
        self._spool = spool
        self._writer = writer
        self._conditions = conditions
        self._counts = counts
        self._metrics = metrics
        self._dead_letter = dead_letter
        self._fail = fail
        self.stopping = threading.Event()  # set: drain, then return
        self.drain_timeout = cfg.stop_timeout
        self.influx_ok = False  # the last InfluxDB request succeeded

    def run(self) -> None:
        """Write the spool to InfluxDB until ``stopping`` is set, then drain for up to
        ``drain_timeout`` s. Returns when done or when the spool cannot be read."""
        backoff = Backoff(self._cfg.retry_initial, self._cfg.retry_max)
        try:
            self._writer.ensure_database()
            self.influx_ok = True
        except WriteFailed as exc:
            log.warning("InfluxDB not reachable yet", extra={"error": str(exc)})
        last_activity = time.monotonic()
        drain_deadline: Deadline | None = None
        read_backoff = Backoff(self._cfg.retry_initial, self._cfg.retry_max)
        while True:
            if drain_deadline is None and self.stopping.is_set():
                drain_deadline = Deadline(self.drain_timeout)
            if drain_deadline is not None and (
                drain_deadline.expired or not self._spool.pending_bytes
            ):
                if self._conditions.active("spool_read_failing"):
                    self._give_up()
                return
            try:
                batch = self._spool.read_batch(self._cfg.batch_size)
            except SpoolError as exc:
                self._counts["spool_errors"] += 1
                self._conditions.set("spool_read_failing", str(exc), logging.ERROR)
                if read_backoff.attempts + 1 >= READ_ATTEMPTS:
                    self._give_up()
                    return
                delay = read_backoff.next_delay()
                if drain_deadline is None:
                    self.stopping.wait(delay)
                else:  # stopping: the stop event is set, so pause for real, within the drain
                    time.sleep(min(delay, drain_deadline.remaining))
                continue
            if read_backoff.attempts:
                read_backoff.reset()
                self._conditions.clear("spool_read_failing")
            if batch is None:
                if not self._spool.wait_for_data(self._cfg.flush_interval) and (
                    time.monotonic() - last_activity > _IDLE_PING
                ):
                    self.influx_ok = self._writer.ping()
                    last_activity = time.monotonic()
                continue
            started = time.perf_counter()
            try:
                refused = self._writer.write_isolating(batch.data)
            except WriteFailed as exc:
                self._counts["write_failures"] += 1
                if self.influx_ok or backoff.attempts == 0:
                    log.warning("InfluxDB write failed; will retry", extra={"error": str(exc)})
                self.influx_ok = False
                delay = backoff.next_delay()
                if drain_deadline is None:
                    self.stopping.wait(delay)  # stop() cuts the wait short
                else:  # already stopping: keep retrying until the drain deadline
                    time.sleep(min(delay, drain_deadline.remaining))
                continue
            self.influx_ok = True
            backoff.reset()
            last_activity = time.monotonic()
            self._metrics.write_latency.observe(time.perf_counter() - started)
            self._metrics.batch_size.observe(batch.lines)
            if refused:
                now = time.time_ns()
                self._dead_letter(
                    [DeadLetter(None, i.line, "influx_rejected", i.error, now) for i in refused]
                )
                log.warning(
                    "InfluxDB refused points",
                    extra={"count": len(refused), "error": refused[0].error},
                )
            try:
                self._spool.commit(batch)
                self._conditions.clear("spool_cursor_failing")
            except SpoolError as exc:  # the points are stored; a restart may write them again
                self._counts["spool_errors"] += 1
                self._conditions.set("spool_cursor_failing", str(exc), logging.ERROR)
            self._counts["written"] += batch.lines - len(refused)
            self._counts["batches"] += 1
            if batch.lines >= _LINGER_FROM and drain_deadline is None:
                # under load: let the next batch grow (InfluxDB's CPU per point falls with size)
                self.stopping.wait(_LINGER)

    def _give_up(self) -> None:
        lines = self._spool.pending_lines
        self._fail(
            f"the spool cannot be read; {lines} points stay in {self._cfg.spool_path} "
            "for the next start"
        )
