"""What a fleet published against what InfluxDB stored: per device, and which messages are
missing and when they were sent (for a fleet that records its publishes, with JSON payloads)."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from alertloop.services.common.config import InfluxSettings
from alertloop.sim.fleet import Fleet, FleetEsp32

__all__ = ["DeliveryReport", "delivery_report", "stored_times"]


def stored_times(
    influx: InfluxSettings, measurement: str = "pot", tag: str = "device"
) -> dict[str, list[int]]:
    """For each value of ``tag``, the times (epoch ms) of the points stored in ``influx``'s
    database."""
    client = influx.client(timeout=30.0)
    try:
        result = client.query(
            f'SELECT "value", "{tag}" FROM "{measurement}"', epoch="ms", chunked=False
        )
    finally:
        client.close()
    times: dict[str, list[int]] = defaultdict(list)
    for point in result.get_points():
        times[str(point.get(tag))].append(int(point["time"]))
    return dict(times)


@dataclass(frozen=True)
class DeliveryReport:
    """Counts over ``devices`` ESP32s; ``missing`` lists (device, seq, ts ms) not stored."""

    devices: int
    qos: int
    published: int
    acked: int
    stored: int
    missing: list[tuple[str, int, int]] = field(default_factory=list)
    extra: int = 0

    @property
    def lost(self) -> int:
        return len(self.missing)

    def lost_between(self, start_ms: int, end_ms: int) -> int:
        """How many of the missing messages were sent within [start_ms, end_ms]."""
        return sum(1 for _, _, ts in self.missing if start_ms <= ts <= end_ms)

    def line(self) -> str:
        acked = f", acked {self.acked}" if self.qos else ""
        span = ""
        if self.missing:
            first = min(ts for _, _, ts in self.missing) / 1000
            last = max(ts for _, _, ts in self.missing) / 1000
            span = (
                f" (sent between {time.strftime('%H:%M:%S', time.localtime(first))}"
                f".{int(first * 1000) % 1000:03d} and "
                f"{time.strftime('%H:%M:%S', time.localtime(last))}.{int(last * 1000) % 1000:03d}"
                f" by {len({d for d, _, _ in self.missing})} devices)"
            )
        return (
            f"{self.devices} devices at QoS {self.qos}: published {self.published}{acked}, "
            f"stored {self.stored}, lost {self.lost}{span}"
        )


def delivery_report(
    fleet: Fleet, influx: InfluxSettings, devices: Iterable[FleetEsp32] | None = None
) -> DeliveryReport:
    """Compare what ``devices`` (all ESP32s of ``fleet`` by default) published with what is
    stored. Needs ``json_payload`` (so a point's time is the device's ``ts``) and
    ``record_published``; raises ValueError otherwise."""
    config = fleet.config
    if not (config.json_payload and config.record_published):
        raise ValueError("delivery_report needs a fleet with json_payload and record_published")
    chosen = list(fleet.esp32s if devices is None else devices)
    stored = stored_times(influx)
    missing: list[tuple[str, int, int]] = []
    total_stored = extra = 0
    for device in chosen:
        have = set(stored.get(device.device_id, ()))
        total_stored += len(have)
        sent = device.record if device.record is not None else ()
        extra += len(have - set(sent))
        missing.extend(
            (device.device_id, seq, ts) for seq, ts in enumerate(sent, start=1) if ts not in have
        )
    return DeliveryReport(
        devices=len(chosen),
        qos=config.qos,
        published=sum(d.published for d in chosen),
        acked=sum(d.acked for d in chosen),
        stored=total_stored,
        missing=missing,
        extra=extra,
    )
