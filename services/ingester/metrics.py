"""Prometheus ``/metrics`` and ``/healthz`` on a small HTTP server of its own.

Per-message counters are plain integers kept by the ingester and read at scrape time (no lock
per message); batch sizes and write latencies are histograms observed once per batch; the
process metrics (CPU, memory, open files, start time) come from prometheus_client. ``/healthz``
answers the body every service shares (``alertloop.services.common.healthz``).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from alertloop.services.common.errors import ConfigError
from alertloop.services.common.healthz import FAILING, add_process_metrics

__all__ = ["IngesterMetrics", "MetricsServer", "parse_bind"]

_COUNTERS = {
    "received": "MQTT messages received",
    "spooled": "points appended to the spool",
    "written": "points stored in InfluxDB",
    "acked": "MQTT messages acknowledged",
    "dead_lettered": "records added to the dead-letter store",
    "batches": "batches written to InfluxDB",
    "write_failures": "InfluxDB writes that failed and will be retried",
    "queue_overflow": "QoS 0 messages dropped (received while stopping)",
    "spool_full_waits": "waits of the pipeline for room in a full spool (0.5 s each at most)",
    "spool_errors": "failed spool appends, reads, fsyncs and cursor saves",
    "dead_letters_lost": "rejected messages or points the dead-letter store could not record",
    "reading_pauses": "times reading from the broker paused because the pipeline was behind",
    "reading_paused_seconds": "seconds reading from the broker was paused",
    "mqtt_sessions_lost": "reconnects where the broker no longer had the session",
}
_GAUGES = {
    "spool_bytes": "bytes in the spool not yet stored in InfluxDB",
    "spool_lines": "points in the spool not yet stored in InfluxDB",
    "queue_depth": "messages received and not yet spooled",
    "mqtt_connected": "1 while connected to the broker",
    "reading_paused": "1 while reading from the broker is paused (flow control)",
    "influx_reachable": "1 while the last InfluxDB request succeeded",
    "healthy": "1 while /healthz reports no problem (status ok)",
}


class _StatsCollector:
    def __init__(self, stats: Callable[[], Mapping[str, object]]) -> None:
        self._stats = stats

    def collect(self) -> Iterator[Metric]:
        stats = self._stats()
        for name, text in _COUNTERS.items():
            yield CounterMetricFamily(f"alertloop_ingest_{name}", text, value=float(stats[name]))  # type: ignore[arg-type]
        rejected = CounterMetricFamily(
            "alertloop_ingest_rejected", "messages or points rejected, by reason", labels=["reason"]
        )
        for reason, count in sorted(stats["rejected_by_reason"].items()):  # type: ignore[attr-defined]
            rejected.add_metric([reason], float(count))
        yield rejected
        for name, text in _GAUGES.items():
            yield GaugeMetricFamily(f"alertloop_ingest_{name}", text, value=float(stats[name]))  # type: ignore[arg-type]


class IngesterMetrics:
    """A registry of one ingester: counters from ``stats()``, batch histograms, and the
    process metrics."""

    def __init__(self, stats: Callable[[], Mapping[str, object]]) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_StatsCollector(stats))  # type: ignore[arg-type]
        add_process_metrics(self.registry)
        self.batch_size = Histogram(
            "alertloop_ingest_batch_size",
            "points per InfluxDB write",
            buckets=(1, 10, 50, 100, 500, 1000, 2500, 5000, 10000),
            registry=self.registry,
        )
        self.write_latency = Histogram(
            "alertloop_ingest_write_latency_seconds",
            "duration of one InfluxDB batch write",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)


def parse_bind(bind: str) -> tuple[str, int]:
    """``"host:port"`` (``":9108"`` means all addresses). Raises ConfigError when malformed."""
    host, sep, port = bind.rpartition(":")
    if not sep or not port.isdigit():
        raise ConfigError(f"metrics address {bind!r}: expected host:port")
    return host.strip("[]") or "0.0.0.0", int(port)


class MetricsServer:
    """Serves ``/metrics`` and ``/healthz`` on a daemon thread; ``bind`` port 0 picks a free one.

    ``health()`` returns ``(ok, body)``, body as in ``Health.to_dict()``: answered with 503
    when its status is ``failing``, else 200.
    """

    def __init__(
        self,
        bind: str,
        metrics: IngesterMetrics,
        health: Callable[[], tuple[bool, dict[str, object]]],
    ) -> None:
        self._address = parse_bind(bind)
        self._metrics = metrics
        self._health = health
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL, for example ``http://127.0.0.1:9108``. Raises RuntimeError before start."""
        if self._server is None:
            raise RuntimeError("metrics server is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> MetricsServer:
        """Bind and serve. Raises OSError when the address is taken."""
        handler = _make_handler(self._metrics, self._health)
        self._server = ThreadingHTTPServer(self._address, handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="ingester-metrics",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def _make_handler(
    metrics: IngesterMetrics, health: Callable[[], tuple[bool, dict[str, object]]]
) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._reply(200, metrics.render(), CONTENT_TYPE_LATEST)
            elif path == "/healthz":
                _, details = health()
                body = json.dumps(details).encode()
                code = 503 if details.get("status") == FAILING else 200
                self._reply(code, body, "application/json")
            else:
                self._reply(404, b"not found\n", "text/plain")

        def _reply(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            return

    return Handler
