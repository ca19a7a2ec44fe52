"""The running ingester: MQTT in, spool, InfluxDB out.

Threads: the MQTT network thread (:class:`~alertloop.services.ingester.transport.MqttSession`) decodes
each chunk read from the socket into a list of :class:`Received` and puts it on a queue (it never
blocks); the *pipeline* thread converts, appends to the spool or the dead-letter store and only
then acknowledges (one write of PUBACKs per run); the *writer* thread
(:class:`~alertloop.services.ingester.writer_loop.WriterLoop`) writes what the spool holds to InfluxDB,
as soon as the previous write has finished (so batches grow with the load and a lone message
is stored within milliseconds).

Failures inside the pipeline are conditions (see :mod:`alertloop.services.ingester.health`): logged when
they start and then at most every 30 s, shown in ``health()``, retried; what cannot be retried
(a thread that died, a spool that stays unreadable) makes ``failed`` set, and the command exits
non-zero. The spool directory, and the client id on this host, are locked for the process's
life (:mod:`alertloop.services.ingester.instance`), so two ingesters never share a spool.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter
from typing import Any

from alertloop.services.common.deadline import wait_until
from alertloop.services.common.healthz import Health
from alertloop.services.common.lifecycle import Lifecycle
from alertloop.services.ingester.config import IngesterConfig, client_lock_path
from alertloop.services.ingester.convert import Converter, Received
from alertloop.services.ingester.deadletter import DeadLetter, DeadLetterStore
from alertloop.services.ingester.errors import IngesterError, SpoolError, SpoolFull
from alertloop.services.ingester.health import DEGRADING, Conditions
from alertloop.services.ingester.instance import claim
from alertloop.services.ingester.lineprotocol import LineEncoder
from alertloop.services.ingester.lock import ProcessLock
from alertloop.services.ingester.metrics import IngesterMetrics, MetricsServer
from alertloop.services.ingester.payload import PayloadRules
from alertloop.services.ingester.spool import Spool
from alertloop.services.ingester.topics import TopicRouter
from alertloop.services.ingester.transport import MqttSession
from alertloop.services.ingester.writer import Backoff, InfluxWriter
from alertloop.services.ingester.writer_loop import WriterLoop

__all__ = ["Ingester"]

log = logging.getLogger(__name__)

_DRAIN_MAX = 1000  # messages converted and acknowledged together
_SPOOL_BYTES_PER_MESSAGE = 256  # run cap: spool_max_bytes / this many messages
_GATHER_MAX = 0.002  # longest wait for a run of small chunks to finish arriving (s)
_GATHER_STEP = 0.0003  # the queue is "no longer growing" when it did not grow in this time (s)
_GATHER_BELOW = 200  # gather only after a chunk of fewer messages than this
_pause = threading.Event().wait  # a bounded pause (nothing sets this event)


class Ingester(Lifecycle):
    """Subscribes, stores and acknowledges; use ``start()``/``stop()`` or ``with Ingester(cfg):``."""

    def __init__(self, cfg: IngesterConfig) -> None:
        self.cfg = cfg
        instance = cfg.effective_instance_tag
        self._router = TopicRouter(
            cfg.templates,
            cfg.topic_tag,
            constant_tags={instance: cfg.client_id} if instance else None,
        )
        self._converter = Converter(
            self._router,
            LineEncoder(cfg.measurement, cfg.field),
            PayloadRules(cfg.min_value, cfg.max_value, cfg.max_payload_bytes),
        )
        self._queue: queue.SimpleQueue[list[Received] | None] = queue.SimpleQueue()  # None: wake
        self._enqueued = 0  # messages put on the queue (network thread)
        self._dequeued = 0  # messages taken from it (pipeline thread)
        self._counts: Counter[str] = Counter()
        self._rejected: Counter[str] = Counter()
        self._conditions = Conditions(log)
        self._client_lock = ProcessLock(
            client_lock_path(cfg.mqtt, cfg.client_id), remove_on_release=True
        )
        self._accepting = False
        self._drop_logged = -1e9  # monotonic time of the last "dropped" log line
        self._started = False
        self._stop_pipeline = threading.Event()
        self._threads: list[threading.Thread] = []
        self._spool = Spool(
            cfg.spool_path,
            max_bytes=cfg.spool_max_bytes,
            segment_bytes=cfg.spool_segment_bytes,
            fsync_interval=cfg.spool_fsync_interval,
        )
        self._mqtt = MqttSession(
            cfg.mqtt,
            cfg.client_id,
            self._router.subscriptions,
            self._on_messages,
            qos=cfg.qos,
            keepalive=cfg.keepalive,
            session_expiry=cfg.session_expiry,
            receive_maximum=cfg.receive_maximum,
            reconnect=(cfg.reconnect_min, cfg.reconnect_max),
            backlog=lambda: self._enqueued - self._dequeued,
            backlog_limit=cfg.queue_size,
        )
        self._dead = DeadLetterStore(
            cfg.dead_letter_path,
            max_bytes=cfg.dead_letter_max_bytes,
            topic=cfg.dead_letter_topic,
            publish=self._publish_dead_letter,
        )
        self._writer = InfluxWriter(cfg.influx, timeout=cfg.http_timeout, gzip=cfg.gzip)
        self.metrics = IngesterMetrics(lambda: self.stats)
        self._loop = WriterLoop(
            cfg,
            self._spool,
            self._writer,
            conditions=self._conditions,
            counts=self._counts,
            metrics=self.metrics,
            dead_letter=self._dead_letter,
            fail=self._fail,
        )
        self._metrics_server: MetricsServer | None = None

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> Ingester:
        """Open the spool and dead-letter store, start the threads, connect (in the background).

        Raises LockHeld when another process has the spool directory or, on this host, the
        client id (the message names its pid and says how to run several), IngesterError when
        the spool or dead-letter file cannot be opened, OSError when the metrics address is
        taken. The broker and InfluxDB may still be down: both are retried.
        """
        if self._started:
            raise IngesterError("ingester already started")
        try:
            self._lock()
            self._dead.open()
            if self._spool.recovered_lines:
                log.info("spool recovered", extra={"lines": self._spool.recovered_lines})
            if self.cfg.metrics_bind:
                self._metrics_server = MetricsServer(
                    self.cfg.metrics_bind, self.metrics, self.health
                ).start()
            self._accepting = True
            for name, target in (("pipeline", self._run_pipeline), ("writer", self._loop.run)):
                thread = threading.Thread(
                    target=self._guarded, args=(name, target), name=f"ingester-{name}", daemon=True
                )
                thread.start()
                self._threads.append(thread)
            self._mqtt.start()
        except BaseException:
            self._shutdown(flush=False)
            raise
        self._started = True
        log.info(
            "ingester started",
            extra={
                "mqtt": self.cfg.safe_mqtt_url,
                "influx": self.cfg.safe_influx_url,
                "database": self.cfg.influx.database,
                "topics": self._router.subscriptions,
            },
        )
        return self

    def stop(self) -> None:
        """Stop taking messages, store and acknowledge what was taken, disconnect, then write
        the spool to InfluxDB for up to ``stop_timeout`` s (what is left stays for the next start).
        """
        if not self._started:
            return
        self._started = False
        self._shutdown(flush=True)
        log.info("ingester stopped", extra={"stats": self.stats})

    def _lock(self) -> None:
        """Take the spool directory, then this client id on this host (see ``start``)."""
        claim(self.cfg, self._spool, self._client_lock)

    def _guarded(self, name: str, target: Any) -> None:
        """Run a pipeline thread; if it dies, the ingester has failed (and says so)."""
        try:
            target()
        except BaseException as exc:
            log.exception(f"the {name} thread died")
            self._fail(f"the {name} thread died: {exc!r}")

    def _fail(self, reason: str) -> None:
        """The ingester cannot go on: take nothing new (the broker keeps it), say why."""
        self._accepting = False
        self._conditions.fail(reason)

    # -- what a user reads ---------------------------------------------------------------
    @property
    def failed(self) -> threading.Event:
        """Set when the ingester cannot go on (see ``failure``); the command exits non-zero."""
        return self._conditions.failed

    @property
    def failure(self) -> str | None:
        """Why the ingester failed, or None."""
        return self._conditions.failure

    @property
    def connected(self) -> bool:
        """Connected to the broker and subscribed."""
        return self._mqtt.connected

    @property
    def metrics_url(self) -> str | None:
        return self._metrics_server.url if self._metrics_server else None

    @property
    def stats(self) -> dict[str, Any]:
        """Counters and gauges (a snapshot): received, spooled, written, acked, rejected, ..."""
        out: dict[str, Any] = {
            name: self._counts[name]
            for name in (
                "received",
                "spooled",
                "written",
                "acked",
                "dead_lettered",
                "write_failures",
                "queue_overflow",
                "batches",
                "spool_full_waits",
                "spool_errors",
                "dead_letters_lost",
            )
        }
        out["rejected"] = sum(self._rejected.values())
        out["rejected_by_reason"] = dict(self._rejected)
        out["spool_bytes"] = self._spool.pending_bytes
        out["spool_lines"] = self._spool.pending_lines
        out["queue_depth"] = self._enqueued - self._dequeued
        out["mqtt_connected"] = int(self._mqtt.connected)
        out["reading_paused"] = int(self._mqtt.paused)
        out["reading_pauses"] = self._mqtt.pauses
        out["reading_paused_seconds"] = self._mqtt.paused_seconds
        out["mqtt_sessions_lost"] = self._mqtt.sessions_lost
        out["influx_reachable"] = int(self._loop.influx_ok)
        out["healthy"] = int(self.health()[0])
        return out

    def health(self) -> tuple[bool, dict[str, object]]:
        """``(ok, body)``: ok while connected to the broker, InfluxDB answers and nothing in
        the pipeline is failing; ``body`` is the ``/healthz`` body, ``body["problems"]`` maps
        each problem to what is wrong. Problems in ``DEGRADING`` leave the status ``degraded``
        (200); any other makes it ``failing`` (503)."""
        connected = self._mqtt.connected
        problems = self._conditions.snapshot()
        if not connected:
            problems["mqtt_disconnected"] = f"not subscribed at {self.cfg.safe_mqtt_url}"
        if not self._loop.influx_ok:
            problems["influx_unreachable"] = f"InfluxDB at {self.cfg.influx.url} did not answer"
        checks: dict[str, object] = {
            "mqtt_connected": connected,
            "influx_reachable": self._loop.influx_ok,
            "spool_bytes": self._spool.pending_bytes,
            "spool_lines": self._spool.pending_lines,
            "spool_full": self._conditions.active("spool_full"),
            "reading_paused": self._mqtt.paused,
            "dropped": self._counts["queue_overflow"],
        }
        health = Health("ingester", problems, checks, DEGRADING)
        return health.ok, health.to_dict()

    def wait_connected(self, timeout: float = 10.0) -> None:
        """Wait until subscribed to the broker. Raises TimeoutExpired."""
        wait_until(
            lambda: self._mqtt.connected,
            timeout,
            what="the ingester to connect to the broker",
            hint=f"is the broker at {self.cfg.mqtt.safe_url} running?",
        )

    # -- MQTT network thread (never block here) ----------------------------------------
    def _on_messages(self, messages: list[Received]) -> None:
        # Flow control is the transport's: it stops reading while the backlog is at
        # queue_size, so every message handed over is taken (never dropped for lack of room).
        if not self._accepting:
            self._drop_while_stopping(messages)
            return
        self._enqueued += len(messages)
        self._queue.put(messages)

    def _drop_while_stopping(self, messages: list[Received]) -> None:
        """Messages that arrive while stopping are not taken: QoS 1 ones are not acknowledged
        (the broker delivers them again), QoS 0 ones are lost, counted and logged."""
        lost = sum(1 for m in messages if not m.qos)
        if not lost:
            return
        self._counts["queue_overflow"] += lost
        now = time.monotonic()
        if now - self._drop_logged >= 10.0:  # at most one line per 10 s
            self._drop_logged = now
            log.warning(
                "QoS 0 messages dropped while stopping",
                extra={"count": lost, "dropped_total": self._counts["queue_overflow"]},
            )

    def _publish_dead_letter(self, topic: str, payload: bytes) -> None:
        self._mqtt.publish(topic, payload)

    # -- pipeline thread: convert, store, acknowledge ------------------------------------
    def _run_pipeline(self) -> None:
        get, wait = (
            self._queue.get,
            min(self.cfg.flush_interval, self.cfg.spool_fsync_interval or 1.0),
        )
        while True:
            try:
                first = get(timeout=wait)
            except queue.Empty:
                first = None
            if first is None:
                self._sync()
                if self._stop_pipeline.is_set() and self._queue.empty():
                    return
                continue
            if len(first) < _GATHER_BELOW:
                self._gather()
            taken = first
            get_nowait = self._queue.get_nowait
            try:
                while len(taken) < _DRAIN_MAX:
                    more = get_nowait()
                    if more is not None:
                        taken.extend(more)
            except queue.Empty:
                pass
            self._dequeued += len(taken)
            if not self._store(taken):
                return
            self._sync()

    def _sync(self) -> None:
        try:
            self._spool.maybe_sync()
            self._conditions.clear("spool_sync_failing")
        except SpoolError as exc:  # tried again after the interval
            self._counts["spool_errors"] += 1
            self._conditions.set("spool_sync_failing", str(exc), logging.ERROR)

    def _gather(self) -> None:
        """Let the network thread read a few more chunks before converting (at most ~2 ms).

        Under load the broker's messages arrive in many small chunks; taking each chunk the
        moment it arrives makes the threads trade the GIL and write PUBACKs once per chunk.
        """
        qsize, pause = self._queue.qsize, _pause
        seen, deadline = qsize(), time.monotonic() + _GATHER_MAX
        while time.monotonic() < deadline:
            pause(_GATHER_STEP)
            now = qsize()
            if now == seen:
                return
            seen = now

    def _store(self, taken: list[Received]) -> bool:
        """Store ``taken`` and acknowledge it, in runs small enough for the spool's bound.

        A run enters the spool whole (an empty spool always takes one), so runs are capped at
        one message per 256 bytes of ``spool_max_bytes``. False when stopping first.
        """
        limit = max(1, self.cfg.spool_max_bytes // _SPOOL_BYTES_PER_MESSAGE)
        if len(taken) <= limit:
            return self._store_run(taken)
        return all(
            self._store_run(taken[start : start + limit]) for start in range(0, len(taken), limit)
        )

    def _store_run(self, taken: list[Received]) -> bool:
        """Store one run and acknowledge it. False when stopping before it could be stored."""
        self._counts["received"] += len(taken)
        converted = self._converter.convert(taken)
        backoff: Backoff | None = None
        conditions = self._conditions
        while converted.lines:
            try:
                self._spool.append(converted.data, converted.lines)
                self._counts["spooled"] += converted.lines
                if backoff is not None:
                    conditions.clear("spool_full")
                    conditions.clear("spool_write_failing")
                break
            except SpoolFull as exc:  # backpressure: not acknowledged until there is room
                if self._stop_pipeline.is_set():
                    return False  # not acknowledged: the broker keeps these messages
                backoff = backoff or Backoff(0.1, 5.0)
                self._counts["spool_full_waits"] += 1
                conditions.set(
                    "spool_full",
                    f"{exc}; messages are not acknowledged until InfluxDB takes some",
                    waiting=len(taken),
                )
                self._spool.wait_for_room(len(converted.data), 0.5)
            except SpoolError as exc:
                if self._stop_pipeline.is_set():
                    return False
                backoff = backoff or Backoff(0.1, 5.0)
                self._counts["spool_errors"] += 1
                conditions.set("spool_write_failing", str(exc), logging.ERROR, waiting=len(taken))
                self._stop_pipeline.wait(backoff.next_delay())
        if converted.letters:
            self._dead_letter(converted.letters)
        by_session: dict[int, list[int]] = {}
        for message in taken:
            if message.qos:
                by_session.setdefault(message.session, []).append(message.mid)
        for session, packet_ids in by_session.items():
            self._counts["acked"] += self._mqtt.ack(session, packet_ids)
        return True

    def _dead_letter(self, letters: list[DeadLetter]) -> None:
        """Record ``letters``; when the store fails they are counted lost and logged (bounded).

        A bad payload never becomes good, so holding it unacknowledged would only take one of
        the broker's in-flight slots until a reconnect; it is acknowledged like any other and
        the failure shows in ``dead_letters_lost``, the log and ``health()`` instead.
        """
        for letter in letters:
            self._rejected[letter.reason] += 1
        try:
            for letter in letters:
                self._dead.add(letter)
            self._dead.flush()
        except IngesterError as exc:
            self._counts["dead_letters_lost"] += len(letters)
            first = letters[0].to_dict()  # bounded: a payload prefix, its size and sha256
            self._conditions.set(
                "dead_letter_failing", str(exc), logging.ERROR, lost=len(letters), first=first
            )
            return
        self._counts["dead_lettered"] += len(letters)
        self._conditions.clear("dead_letter_failing")

    # -- shutdown ------------------------------------------------------------------------
    def _shutdown(self, flush: bool) -> None:
        self._accepting = False
        if not flush:
            self._loop.drain_timeout = 0.0
        self._stop_pipeline.set()
        self._queue.put(None)
        pipeline = [t for t in self._threads if t.name == "ingester-pipeline"]
        for thread in pipeline:
            thread.join()
        # let the acknowledgements reach the broker before disconnecting
        if flush and self._mqtt.connected and not self._mqtt.flush(2.0):
            log.warning("acknowledgements not all sent; the broker will deliver those again")
        self._mqtt.stop()
        self._loop.stopping.set()
        self._spool.wake()
        for thread in self._threads:
            if thread not in pipeline:
                thread.join()
        self._threads.clear()
        if self._metrics_server is not None:
            self._metrics_server.stop()
        self._writer.close()
        self._dead.close()
        try:
            self._spool.close()
        except SpoolError as exc:
            self._fail(f"the spool was not closed cleanly: {exc}")
        finally:
            self._client_lock.release()
