"""Running the rule's InfluxQL against InfluxDB the way Grafana's InfluxDB datasource does."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from alertloop.services.common.config import InfluxSettings
from alertloop.sim.alerting.errors import QueryError
from alertloop.sim.alerting.provisioning import DataQuery


@dataclass(frozen=True)
class Point:
    """One row of the query's result: epoch seconds and the value (None for a null)."""

    time: float
    value: float | None


class SeriesSource(Protocol):
    """Where the rule's query runs: ``points(influxql)`` returns the one series' points."""

    def points(self, influxql: str) -> list[Point]: ...

    def close(self) -> None: ...


def format_interval(interval_ms: int) -> str:
    """Grafana's ``$__interval`` text for a number of milliseconds (``1s``, ``500ms``)."""
    if interval_ms % 1000 == 0:
        return f"{interval_ms // 1000}s"
    return f"{interval_ms}ms"


def build_query(query: DataQuery, now: float) -> str:
    """The InfluxQL with Grafana's macros expanded for an evaluation at ``now`` (epoch seconds).

    ``$timeFilter`` becomes ``time >= {now-from}ms and time <= {now-to}ms``, as in Grafana's
    InfluxDB backend; ``$__interval_ms``, ``$__interval`` and ``$interval`` become the interval.
    """
    start_ms = int(round((now - query.range_from) * 1000))
    end_ms = int(round((now - query.range_to) * 1000))
    text = query.query.replace("$timeFilter", f"time >= {start_ms}ms and time <= {end_ms}ms")
    text = text.replace("$__interval_ms", str(query.interval_ms))
    interval = format_interval(query.interval_ms)
    return text.replace("$__interval", interval).replace("$interval", interval)


class InfluxSource:
    """A SeriesSource on an InfluxDB 1.x database (one HTTP session, reused)."""

    def __init__(self, settings: InfluxSettings, timeout: float = 5.0) -> None:
        self.settings = settings
        self._client = settings.client(timeout=timeout)

    def points(self, influxql: str) -> list[Point]:
        """Run ``influxql``; raises QueryError on any failure or on more than one series."""
        from influxdb.exceptions import InfluxDBClientError, InfluxDBServerError
        from requests import RequestException

        try:
            result = self._client.query(influxql, epoch="ms", database=self.settings.database)
        except (InfluxDBClientError, InfluxDBServerError, RequestException, OSError) as exc:
            raise QueryError(
                f"query failed on {self.settings.url}/{self.settings.database}: {exc}"
            ) from exc
        series: list[dict[str, Any]] = result.raw.get("series") or []
        if len(series) > 1:
            raise QueryError(
                f"query returned {len(series)} series; the rule handles one: {influxql}"
            )
        if not series:
            return []
        columns: list[str] = series[0]["columns"]
        value_index = next((i for i, c in enumerate(columns) if c != "time"), None)
        if value_index is None:
            raise QueryError(f"query returned no value column: {influxql}")
        time_index = columns.index("time")
        out = []
        for row in series[0].get("values") or []:
            value = row[value_index]
            if value is not None and not isinstance(value, int | float):
                raise QueryError(f"query returned a non-numeric value {value!r}: {influxql}")
            out.append(Point(row[time_index] / 1000.0, None if value is None else float(value)))
        return out

    def close(self) -> None:
        self._client.close()
