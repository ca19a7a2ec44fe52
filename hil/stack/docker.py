"""The docker backend: testcontainers runs eclipse-mosquitto 2, influxdb 1.8 and a pinned Grafana.

Grafana gets ``services/grafana/provisioning`` mounted, so it loads the same datasource,
dashboard, alert rule and contact point that the simulated evaluator reads.
Where no Docker engine answers, starting raises DockerUnavailable.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from pathlib import Path
from typing import Any

from hil.stack.base import DockerUnavailable, ServerStartError, Stack
from services.common.config import DEFAULT_INFLUX_DB, InfluxSettings, MqttSettings

MOSQUITTO_IMAGE = "eclipse-mosquitto:2.0.20"
INFLUXDB_IMAGE = "influxdb:1.8.10"
GRAFANA_IMAGE = "grafana/grafana-oss:11.3.0"
PROVISIONING_DIR = Path(__file__).resolve().parents[2] / "services" / "grafana" / "provisioning"

_MOSQUITTO_CONF = """\
listener 1883
allow_anonymous true
persistence true
persistence_location /data/
log_dest stdout
max_queued_messages 100000
"""


def docker_available() -> tuple[bool, str]:
    """Whether a Docker engine answers a ping, and why not when it does not."""
    try:
        import docker

        client = docker.from_env()
        try:
            client.ping()
        finally:
            client.close()
    except Exception as exc:  # docker raises several unrelated types when no engine runs
        return False, f"no Docker engine answers ({exc})"
    return True, ""


class DockerStack(Stack):
    """Containers for mosquitto, InfluxDB 1.8 and (``grafana=True``) Grafana.

    ``webhook_url``/``webhook_user``/``webhook_password`` are handed to Grafana's contact
    point through the ``ALERTLOOP_WEBHOOK_*`` variables the provisioning files read.
    """

    backend = "docker"

    def __init__(
        self,
        *,
        database: str = DEFAULT_INFLUX_DB,
        grafana: bool = True,
        webhook_url: str = "http://host.docker.internal:8080/alert",
        webhook_user: str = "grafana",
        webhook_password: str = "",
    ) -> None:
        super().__init__()
        self.database = database
        self.with_grafana = grafana
        self.webhook = (webhook_url, webhook_user, webhook_password)
        self._containers: dict[str, Any] = {}
        self._tmp: Path | None = None
        self._mqtt = MqttSettings("127.0.0.1", 0)
        self._influx = InfluxSettings("127.0.0.1", 0, database=database)
        self._grafana_url: str | None = None

    @property
    def mqtt(self) -> MqttSettings:
        return self._mqtt

    @property
    def influx(self) -> InfluxSettings:
        return self._influx

    @property
    def grafana_url(self) -> str | None:
        return self._grafana_url

    def _start(self) -> None:
        ok, why = docker_available()
        if not ok:
            raise DockerUnavailable(why)
        from testcontainers.community.influxdb import InfluxDb1Container
        from testcontainers.community.mqtt import MosquittoContainer

        self._tmp = Path(tempfile.mkdtemp(prefix="alertloop-docker-"))
        conf = self._tmp / "mosquitto.conf"
        conf.write_text(_MOSQUITTO_CONF)
        try:
            mosquitto = MosquittoContainer(image=MOSQUITTO_IMAGE)
            self._containers["mqtt"] = mosquitto
            mosquitto.start(configfile=str(conf))
            self._mqtt = MqttSettings(
                mosquitto.get_container_host_ip(), int(mosquitto.get_exposed_port(1883))
            )
            influx = InfluxDb1Container(image=INFLUXDB_IMAGE).with_env("INFLUXDB_DB", self.database)
            influx = influx.with_env("INFLUXDB_REPORTING_DISABLED", "true")
            self._containers["influxdb"] = influx
            influx.start()
            self._influx = InfluxSettings.from_url(influx.get_url(), database=self.database)
            if self.with_grafana:
                self._start_grafana()
        except DockerUnavailable:
            raise
        except Exception as exc:
            raise ServerStartError(f"docker stack failed to start: {exc}") from exc

    def _start_grafana(self) -> None:
        from testcontainers.core.container import DockerContainer
        from testcontainers.core.wait_strategies import HttpWaitStrategy

        url, user, password = self.webhook
        grafana = (
            DockerContainer(GRAFANA_IMAGE)
            .with_exposed_ports(3000)
            .with_env("GF_AUTH_ANONYMOUS_ENABLED", "true")
            .with_env("GF_AUTH_ANONYMOUS_ORG_ROLE", "Admin")
            .with_env("GF_ANALYTICS_REPORTING_ENABLED", "false")
            .with_env("GF_PLUGINS_PREINSTALL_DISABLED", "true")
            .with_env("ALERTLOOP_INFLUX_URL", f"http://host.docker.internal:{self._influx.port}")
            .with_env("ALERTLOOP_INFLUX_DB", self.database)
            .with_env("ALERTLOOP_WEBHOOK_URL", url)
            .with_env("ALERTLOOP_WEBHOOK_USER", user)
            .with_env("ALERTLOOP_WEBHOOK_PASSWORD", password)
            .with_volume_mapping(str(PROVISIONING_DIR), "/etc/grafana/provisioning", "ro")
            .with_kwargs(extra_hosts={"host.docker.internal": "host-gateway"})
            .waiting_for(
                HttpWaitStrategy(3000, "/api/health").for_status_code(200).with_startup_timeout(120)
            )
        )
        self._containers["grafana"] = grafana
        grafana.start()
        host = grafana.get_container_host_ip()
        self._grafana_url = f"http://{host}:{grafana.get_exposed_port(3000)}"

    def _stop(self) -> None:
        for container in reversed(list(self._containers.values())):
            # best effort: a container may never have started
            with contextlib.suppress(Exception):
                container.stop()
        self._containers.clear()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None
