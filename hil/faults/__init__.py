"""Network and server faults: a TCP fault proxy and schedules that play faults over time."""

from alertloop.hil.faults.proxy import (
    FaultProxy,
    FaultProxyError,
    LinkFaults,
    ProxyEvent,
    require_loopback,
)
from alertloop.hil.faults.schedule import (
    FaultEvent,
    FaultRunner,
    FaultSchedule,
    FaultScheduleError,
    FaultStep,
)

__all__ = [
    "FaultEvent",
    "FaultProxy",
    "FaultProxyError",
    "FaultRunner",
    "FaultSchedule",
    "FaultScheduleError",
    "FaultStep",
    "LinkFaults",
    "ProxyEvent",
    "require_loopback",
]
