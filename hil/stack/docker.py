"""The docker backend: mosquitto, InfluxDB 1.x and (where it can be had) Grafana in containers.

testcontainers creates the containers on whatever Docker-API engine answers (Docker, or
Podman's API service: :mod:`alertloop.hil.stack.engine`), from the official images or, where no registry
answers, from local images built from Debian's packages (:mod:`alertloop.hil.stack.images`). Every port is
published on ``127.0.0.1`` only, at a port chosen up front, so a server can be stopped, killed
and started again at the same address (``stack.servers``), as with the native backend.

Every container carries the label ``alertloop.stack=<id>``; stopping the stack removes every
container with its label, whatever state it is in, so nothing is left behind after a failed
start or a signal. Grafana gets ``services/grafana/provisioning`` mounted; it has no Debian
package, so where its image cannot be had the stack runs without it and says why
(``grafana_unavailable``).
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from alertloop.hil.stack.base import DockerUnavailable, ServerControl, ServerStartError, Stack
from alertloop.hil.stack.container_server import ContainerServer
from alertloop.hil.stack.engine import Engine, configure, find_engine
from alertloop.hil.stack.images import ImageSet, ImagesMissing, available, resolve_images
from alertloop.hil.stack.probes import free_port, influx_ping_ok, mqtt_connect_ok
from alertloop.services.common.config import DEFAULT_INFLUX_DB, InfluxSettings, MqttSettings

__all__ = ["GRAFANA_IMAGE", "LABEL", "DockerStack", "docker_available", "leftover_containers"]

GRAFANA_IMAGE = "grafana/grafana-oss:11.3.0"
LABEL = "alertloop.stack"
PROVISIONING_DIR = Path(__file__).resolve().parents[2] / "services" / "grafana" / "provisioning"

_MOSQUITTO_CONF = """\
listener 1883
allow_anonymous true
persistence true
persistence_location /mosquitto/data/
autosave_interval 60
log_dest stdout
connection_messages true
max_queued_messages 100000
set_tcp_nodelay true
"""


def docker_available() -> tuple[bool, str]:
    """Whether a Docker-API engine answers, and why not when none does."""
    try:
        find_engine()
    except DockerUnavailable as exc:
        return False, str(exc)
    return True, ""


def leftover_containers(engine: Engine, stack_id: str | None = None) -> list[str]:
    """Names of containers (any state) that carry the stack label (of ``stack_id``, or any)."""
    import docker

    client = docker.DockerClient(base_url=engine.url)
    try:
        label = f"{LABEL}={stack_id}" if stack_id else LABEL
        return [c.name for c in client.containers.list(all=True, filters={"label": label})]
    finally:
        client.close()


class DockerStack(Stack):
    """Containers for mosquitto, InfluxDB and (``grafana=True``, where its image can be had) Grafana.

    ``webhook_url``/``webhook_user``/``webhook_password`` are handed to Grafana's contact
    point through the ``ALERTLOOP_WEBHOOK_*`` variables the provisioning files read.
    ``images`` is ``auto``, ``official`` or ``local`` (default: ``$ALERTLOOP_STACK_IMAGES``).
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
        images: str | None = None,
        start_timeout: float = 60.0,
    ) -> None:
        super().__init__()
        self.database = database
        self.with_grafana = grafana
        self.webhook = (webhook_url, webhook_user, webhook_password)
        self.image_choice = images
        self.start_timeout = start_timeout
        self.stack_id = uuid.uuid4().hex[:12]
        self.engine: Engine | None = None
        self.images: ImageSet | None = None
        self.grafana_unavailable: str | None = None
        self._servers: dict[str, ContainerServer] = {}
        self._grafana: Any = None
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

    @property
    def servers(self) -> dict[str, ServerControl]:
        return dict(self._servers)

    def describe(self) -> str:
        """The engine and images this stack runs on (for logs and reports)."""
        engine = self.engine.describe() if self.engine else "no engine"
        images = self.images.describe() if self.images else "no images"
        grafana = self.grafana_unavailable or ("grafana " + GRAFANA_IMAGE if self._grafana else "")
        where = f"docker: mqtt {self.mqtt.safe_url}, influxdb {self.influx.url}"
        return f"{where}; {engine}; {images}" + (f"; {grafana}" if grafana else "")

    # -- lifecycle -----------------------------------------------------------------------
    def _start(self) -> None:
        self.engine = find_engine()
        configure(self.engine)
        import docker

        client = docker.DockerClient(base_url=self.engine.url)
        try:
            self.images = resolve_images(client, self.image_choice)
            grafana_ok = self.with_grafana and self._grafana_image_ok(client)
        except ImagesMissing as exc:
            raise DockerUnavailable(str(exc)) from exc
        finally:
            client.close()
        self._tmp = Path(tempfile.mkdtemp(prefix="alertloop-docker-"))
        conf = self._tmp / "mosquitto.conf"
        conf.write_text(_MOSQUITTO_CONF)
        conf.chmod(0o644)
        self._servers = {}
        self._start_server("mqtt", lambda: self._mosquitto(conf))
        self._start_server("influxdb", self._influxdb)
        db = self._influx.client()
        try:
            db.create_database(self.database)
        finally:
            db.close()
        if grafana_ok:
            self._start_grafana()

    def _start_server(self, name: str, build: Callable[[], ContainerServer]) -> None:
        """Starts the server ``build`` makes; a port taken between choosing it and binding it
        (another process was quicker) is chosen again, up to three times."""
        for attempt in range(3):
            server = build()
            self._servers[name] = server
            try:
                server.start()
                return
            except ServerStartError as exc:
                if "address already in use" not in str(exc) or attempt == 2:
                    raise
                server.remove()

    def _container(self, image: str) -> Any:
        from testcontainers.core.container import DockerContainer

        return DockerContainer(image).with_kwargs(labels={LABEL: self.stack_id})

    def _mosquitto(self, conf: Path) -> ContainerServer:
        assert self.images is not None
        port = free_port()
        container = self._container(self.images.mqtt).with_volume_mapping(
            str(conf), "/mosquitto/config/mosquitto.conf", "ro"
        )
        container.ports["1883/tcp"] = ("127.0.0.1", port)
        self._mqtt = MqttSettings("127.0.0.1", port)
        return ContainerServer(
            "mosquitto",
            container,
            lambda: mqtt_connect_ok("127.0.0.1", port),
            start_timeout=self.start_timeout,
        )

    def _influxdb(self) -> ContainerServer:
        assert self.images is not None
        port = free_port()
        container = self._container(self.images.influxdb).with_env(
            "INFLUXDB_REPORTING_DISABLED", "true"
        )
        container.ports["8086/tcp"] = ("127.0.0.1", port)
        self._influx = InfluxSettings("127.0.0.1", port, database=self.database)
        url = self._influx.url
        return ContainerServer(
            "influxd", container, lambda: influx_ping_ok(url), start_timeout=self.start_timeout
        )

    def _grafana_image_ok(self, client: Any) -> bool:
        if available(client, GRAFANA_IMAGE):
            return True
        self.grafana_unavailable = (
            f"Grafana runs only where its image {GRAFANA_IMAGE} can be pulled "
            "(it has no Debian package to build a local image from)"
        )
        return False

    def _start_grafana(self) -> None:
        from testcontainers.core.wait_strategies import HttpWaitStrategy

        url, user, password = self.webhook
        port = free_port()
        grafana = (
            self._container(GRAFANA_IMAGE)
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
            .with_kwargs(
                labels={LABEL: self.stack_id},
                extra_hosts={"host.docker.internal": "host-gateway"},
            )
            .waiting_for(
                HttpWaitStrategy(3000, "/api/health").for_status_code(200).with_startup_timeout(120)
            )
        )
        grafana.ports["3000/tcp"] = ("127.0.0.1", port)
        self._grafana = grafana
        try:
            grafana.start()
        except Exception as exc:
            raise ServerStartError(f"grafana: container failed to start: {exc}") from exc
        self._grafana_url = f"http://127.0.0.1:{port}"

    def _stop(self) -> None:
        for server in reversed(list(self._servers.values())):
            server.remove()
        self._servers.clear()
        if self._grafana is not None:
            with contextlib.suppress(Exception):
                self._grafana.stop()
            self._grafana = None
        self._grafana_url = None
        if self.engine is not None:
            self._remove_labelled(self.engine)
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def _remove_labelled(self, engine: Engine) -> None:
        """Removes any container of this stack still there (a start that failed half way)."""
        import docker

        with contextlib.suppress(Exception):
            client = docker.DockerClient(base_url=engine.url)
            try:
                for container in client.containers.list(
                    all=True, filters={"label": f"{LABEL}={self.stack_id}"}
                ):
                    container.remove(force=True, v=True)
            finally:
                client.close()
