"""The ingester and the webhook run with exactly the settings the deploy gives them, against a
real mosquitto (the deploy's config and password file) and a real InfluxDB: the environment of
the systemd units (``Environment=``, ``EnvironmentFile=``, ``LoadCredential=``) and of the
compose file, each with its hosts, ports and paths moved to this machine. Then a notification
with the deploy's webhook password turns the retained alert on, and a board's value reaches
InfluxDB."""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from alertloop.hil.capture import MqttCapture
from alertloop.hil.influx import TestDatabase
from alertloop.hil.stack import NativeStack
from alertloop.hil.stack.native import find_binary, missing_binaries
from alertloop.hil.stack.probes import free_port
from alertloop.hil.stack.server import ServerProcess
from alertloop.services.common.config import MqttSettings
from alertloop.services.common.deadline import wait_until
from alertloop.services.deploy import DeployOptions, init_deploy
from alertloop.services.deploy.credentials import find_mosquitto_passwd
from alertloop.services.deploy.envfile import parse_env
from alertloop.services.webhook.examples import unified, unified_alert

ROOT = Path(__file__).resolve().parents[2]
UNITS = ROOT / "deploy" / "systemd"
OWNER = (1000, 1000) if os.geteuid() == 0 else (os.getuid(), os.getgid())
ALERTLOOP = shutil.which("alertloop") or str(Path(sys.executable).with_name("alertloop"))
pytestmark = pytest.mark.skipif(
    bool(missing_binaries()), reason=f"needs {', '.join(missing_binaries())} (Debian packages)"
)


@dataclass
class Site:
    """This machine's stand-ins for the deploy's hosts, ports and paths."""

    deploy: Path
    tmp: Path
    mqtt_port: int
    influx_url: str
    database: TestDatabase
    metrics_port: int
    webhook_port: int

    def secret(self, name: str) -> str:
        return (self.deploy / "secrets" / name).read_text().splitlines()[0]

    def mqtt(self, user: str) -> MqttSettings:
        return MqttSettings("127.0.0.1", self.mqtt_port, user, self.secret(f"mqtt_{user}_password"))


def _listening(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=1):
        return True


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
            return resp.status == 200
    except (OSError, urllib.error.HTTPError):
        return False


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    deploy = tmp_path / "deploy"
    init_deploy(
        DeployOptions(
            directory=deploy, source=ROOT, owner=OWNER, mosquitto_passwd=find_mosquitto_passwd()
        )
    )
    influx = NativeStack()  # its InfluxDB; its own broker stays unused
    influx.start()
    database = TestDatabase(influx.influx, label="deploy").create()
    port = free_port()
    conf = (deploy / "mosquitto" / "mosquitto.conf").read_text()
    conf = conf.replace("/run/secrets/", f"{deploy}/secrets/")
    conf = conf.replace("/mosquitto/config/acl", str(deploy / "mosquitto" / "acl"))
    conf = conf.replace("/mosquitto/data/", f"{deploy}/data/mosquitto/")
    conf = conf.replace("listener 1883", f"listener {port} 127.0.0.1")
    if os.geteuid() == 0:
        conf = "user root\n" + conf  # as the files' owner, like the container's user
    (tmp_path / "mosquitto.conf").write_text(conf)
    broker = ServerProcess(
        "mosquitto",
        [str(find_binary("mosquitto")), "-c", str(tmp_path / "mosquitto.conf")],
        tmp_path / "mosquitto.log",
        lambda: _listening(port),
    )
    broker.start()
    try:
        yield Site(
            deploy=deploy,
            tmp=tmp_path,
            mqtt_port=port,
            influx_url=f"http://127.0.0.1:{influx.influx.port}",
            database=database,
            metrics_port=free_port(),
            webhook_port=free_port(),
        )
    finally:
        broker.stop()
        database.drop()
        influx.stop()


def _moved(value: str, site: Site, extra: dict[str, str]) -> str:
    for old, new in {
        "127.0.0.1:1883": f"127.0.0.1:{site.mqtt_port}",
        "mosquitto:1883": f"127.0.0.1:{site.mqtt_port}",
        "http://127.0.0.1:8086": site.influx_url,
        "http://influxdb:8086": site.influx_url,
        "127.0.0.1:9100": f"127.0.0.1:{site.metrics_port}",
        "0.0.0.0:9100": f"127.0.0.1:{site.metrics_port}",
        "127.0.0.1:8080": f"127.0.0.1:{site.webhook_port}",
        "0.0.0.0:8080": f"127.0.0.1:{site.webhook_port}",
        **extra,
    }.items():
        value = value.replace(old, new)
    return value


def _base_env() -> dict[str, str]:
    """A service's environment before its own settings: little more than systemd gives."""
    return {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}


def _unit_command(unit: str, site: Site) -> tuple[list[str], dict[str, str]]:
    """argv and environment as systemd would give them (Environment=, then EnvironmentFile=)."""
    service: list[tuple[str, str]] = []
    section = ""
    for raw in (UNITS / unit).read_text().splitlines():
        line = raw.strip()
        if line.startswith("["):
            section = line
        elif line and not line.startswith("#") and section == "[Service]":
            key, _, value = line.partition("=")
            service.append((key, value))
    credentials = site.tmp / f"credentials-{unit}"
    credentials.mkdir(mode=0o700)
    state = site.tmp / "state"
    extra = {"%d": str(credentials), "%S": str(state)}
    env = _base_env()
    argv: list[str] = []
    for key, value in service:
        if key == "Environment":
            name, _, setting = value.partition("=")
            env[name] = _moved(setting, site, extra)
        elif key == "LoadCredential":
            name, _, source = value.partition(":")
            assert source.startswith("/etc/alertloop/secrets/")
            shutil.copyfile(site.deploy / "secrets" / Path(source).name, credentials / name)
        elif key == "StateDirectory":
            (state / value).mkdir(parents=True, mode=0o700)
        elif key == "ExecStart":
            argv = value.split()
    for key, value in service:
        if key == "EnvironmentFile":
            assert value == "/etc/alertloop/alertloop.env"
            for name, setting in parse_env((site.deploy / "alertloop.env").read_text()).items():
                env[name] = _moved(setting, site, extra)
    env["ALERTLOOP_INFLUX_DB"] = site.database.name  # the test's own database
    assert argv[0] == "/opt/alertloop/bin/alertloop"
    return [ALERTLOOP, *argv[1:]], env


def _compose_command(name: str, site: Site) -> tuple[list[str], dict[str, str]]:
    compose = yaml.safe_load((site.deploy / "docker-compose.yml").read_text())
    service = compose["services"][name]
    extra = {
        "/run/secrets/": f"{site.deploy}/secrets/",
        "/var/lib/alertloop/spool": str(site.tmp / "spool"),
        "${ALERTLOOP_INFLUX_DB:-iot}": site.database.name,
    }
    env = _base_env()
    for key, value in service["environment"].items():
        env[key] = _moved(str(value), site, extra)
    assert service["command"][0] == "alertloop"
    return [ALERTLOOP, *service["command"][1:]], env


def _start(site: Site, name: str, argv: list[str], env: dict[str, str], port: int) -> ServerProcess:
    # exactly the service's environment (it holds file paths, never a password)
    command = ["env", "-i", *(f"{k}={v}" for k, v in env.items()), *argv]
    server = ServerProcess(name, command, site.tmp / f"{name}.log", lambda: _healthy(port))
    server.start()
    return server


def _post_alert(site: Site, user: str, password: str) -> int:
    body = json.dumps(unified(unified_alert("firing"))).encode()
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{site.webhook_port}/alert",
        data=body,
        headers={"Content-Type": "application/json", "Authorization": f"Basic {token}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def _commands(how: str, site: Site) -> dict[str, tuple[list[str], dict[str, str]]]:
    if how == "systemd":
        return {
            "ingester": _unit_command("alertloop-ingester.service", site),
            "webhook": _unit_command("alertloop-webhook.service", site),
        }
    return {
        "ingester": _compose_command("ingester", site),
        "webhook": _compose_command("webhook", site),
    }


@pytest.mark.parametrize("how", ["systemd", "compose"], ids=["systemd-units", "compose-file"])
def test_the_services_run_with_the_deploys_settings(how: str, site: Site) -> None:
    commands = _commands(how, site)
    for _, env in commands.values():
        secrets = [k for k in env if k.startswith("ALERTLOOP_") and "PASSWORD" in k]
        assert secrets and all(k.endswith("_FILE") for k in secrets), secrets
    started = []
    try:
        started.append(_start(site, "ingester", *commands["ingester"], site.metrics_port))
        started.append(_start(site, "webhook", *commands["webhook"], site.webhook_port))
        with MqttCapture(site.mqtt("operator")) as operator:
            operator.subscribe("/alert")
            assert _post_alert(site, "grafana", "wrong") == 401
            assert _post_alert(site, "grafana", site.secret("webhook_password")) == 200
            assert operator.wait_for("/alert", timeout=10).payload == b"1"
        with MqttCapture(site.mqtt("esp32")) as board:
            board.publish("/pot", "42", qos=1)
        stored = wait_until(
            lambda: site.database.count(),
            timeout=15,
            what=f"the ingester to write the board's value to {site.database.name}",
        )
        assert stored >= 1
    finally:
        for server in reversed(started):
            server.stop()
