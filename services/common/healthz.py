"""One ``/healthz`` body for every service, and the process metrics every ``/metrics`` carries.

The body::

    {"status": "ok" | "degraded" | "failing", "service": "ingester", "version": "0.1.0",
     "problems": {"influx_unreachable": "InfluxDB at http://... did not answer"},
     "checks": {"mqtt_connected": true, ...}}

``problems`` maps each problem's name (stable, for probes and alerts) to what is wrong (for
people); ``checks`` holds the service's own figures. ``status`` is ``ok`` without problems,
``degraded`` when every problem is one the service rides out without losing data (it still
answers 200), and ``failing`` otherwise (503). Every string passes ``redact_urls``: a URL
with a password is shown with ``***``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import metadata

from prometheus_client import CollectorRegistry, PlatformCollector, ProcessCollector

from alertloop.services.common.config import redact_urls

__all__ = ["DEGRADED", "FAILING", "OK", "Health", "add_process_metrics", "version"]

OK = "ok"
DEGRADED = "degraded"
FAILING = "failing"


@cache
def version() -> str:
    """The installed alertloop version, or ``"unknown"`` when run from a bare source tree."""
    try:
        return metadata.version("alertloop")
    except metadata.PackageNotFoundError:
        return "unknown"


def _redacted(value: object) -> object:
    if isinstance(value, str):
        return redact_urls(value)
    if isinstance(value, Mapping):
        return {str(k): _redacted(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redacted(v) for v in value]
    return value


@dataclass(frozen=True)
class Health:
    """A service's health at one moment; ``degradable`` names the problems that only degrade."""

    service: str
    problems: Mapping[str, str] = field(default_factory=dict)
    checks: Mapping[str, object] = field(default_factory=dict)
    degradable: Collection[str] = frozenset()

    @property
    def status(self) -> str:
        if not self.problems:
            return OK
        if all(name in self.degradable for name in self.problems):
            return DEGRADED
        return FAILING

    @property
    def ok(self) -> bool:
        """True without any problem."""
        return not self.problems

    @property
    def http_status(self) -> int:
        """200 for ok and degraded, 503 for failing."""
        return 503 if self.status == FAILING else 200

    def to_dict(self) -> dict[str, object]:
        return {
            "status": self.status,
            "service": self.service,
            "version": version(),
            "problems": _redacted(dict(self.problems)),
            "checks": _redacted(dict(self.checks)),
        }


def add_process_metrics(registry: CollectorRegistry) -> None:
    """Register prometheus_client's process metrics (``process_cpu_seconds_total``,
    ``process_resident_memory_bytes``, ``process_open_fds``, ``process_max_fds``,
    ``process_start_time_seconds``, ...) and ``python_info`` on ``registry``."""
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
