"""The /healthz body both services answer: status by problems, one shape, no secrets."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from alertloop.services.common.healthz import Health, add_process_metrics, version
from alertloop.services.ingester.health import DEGRADING


@pytest.mark.parametrize(
    ("problems", "status", "code"),
    [
        ({}, "ok", 200),
        ({"influx_unreachable": "no answer"}, "degraded", 200),
        ({"influx_unreachable": "no answer", "spool_full": "full"}, "failing", 503),
        ({"mqtt_disconnected": "down"}, "failing", 503),
    ],
    ids=["none", "only-degrading", "mixed", "failing"],
)
def test_status_follows_the_problems(problems: dict[str, str], status: str, code: int) -> None:
    health = Health("ingester", problems, {"x": 1}, DEGRADING)
    assert (health.status, health.http_status, health.ok) == (status, code, not problems)
    assert health.to_dict() == {
        "status": status,
        "service": "ingester",
        "version": version(),
        "problems": problems,
        "checks": {"x": 1},
    }


def test_passwords_in_urls_never_shown() -> None:
    health = Health(
        "webhook",
        {"mqtt_disconnected": "not connected at mqtt://hook:s3cret@broker:1883"},
        {"nested": {"url": "http://u:s3cret@db:8086"}, "list": ["mqtts://a:s3cret@b"]},
    )
    text = repr(health.to_dict())
    assert "s3cret" not in text and "hook:***@broker" in text


def test_version_is_the_installed_distribution() -> None:
    assert version() not in ("", "unknown")


def test_process_metrics_on_a_registry_of_its_own() -> None:
    registry = CollectorRegistry()
    add_process_metrics(registry)
    text = generate_latest(registry).decode()
    for name in (
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_max_fds",
        "process_start_time_seconds",
        "python_info",
    ):
        assert f"\n{name}" in text, name
