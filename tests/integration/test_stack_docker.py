"""The docker backend: real containers where an engine answers, a clear skip elsewhere."""

from __future__ import annotations

import pytest

from hil.stack import DockerStack, DockerUnavailable, docker_available
from hil.stack.probes import influx_ping_ok, mqtt_connect_ok

ENGINE, WHY = docker_available()


def test_without_engine_start_raises_docker_unavailable() -> None:
    if ENGINE:
        pytest.skip("a Docker engine answers here")
    with pytest.raises(DockerUnavailable, match="no Docker engine answers"):
        DockerStack(grafana=False).start()


@pytest.mark.docker
@pytest.mark.slow
@pytest.mark.skipif(not ENGINE, reason=f"docker backend needs a Docker engine: {WHY}")
def test_docker_stack_serves_mqtt_influx_and_grafana() -> None:
    import requests

    with DockerStack(grafana=True) as the_stack:
        assert mqtt_connect_ok(the_stack.mqtt.host, the_stack.mqtt.port, timeout=5)
        assert influx_ping_ok(the_stack.influx.url, timeout=5)
        assert the_stack.grafana_url is not None
        health = requests.get(f"{the_stack.grafana_url}/api/health", timeout=10)
        assert health.status_code == 200
