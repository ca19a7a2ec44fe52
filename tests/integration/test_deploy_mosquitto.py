"""A real mosquitto accepts what ``deploy init`` writes: the shipped broker configs (compose and
Debian's conf.d snippet) with the password file made by ``mosquitto_passwd`` or by our own
``$7$`` code, every user with its password, and the compose file's healthcheck command."""

from __future__ import annotations

import os
import re
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from alertloop.hil.stack.native import find_binary
from alertloop.hil.stack.probes import free_port, mqtt_connect_ok
from alertloop.hil.stack.server import ServerProcess
from alertloop.services.deploy import MQTT_USERS, DeployOptions, init_deploy
from alertloop.services.deploy.credentials import find_mosquitto_passwd, mosquitto_check

ROOT = Path(__file__).resolve().parents[2]
OWNER = (1000, 1000) if os.geteuid() == 0 else (os.getuid(), os.getgid())
MOSQUITTO = find_binary("mosquitto")
pytestmark = pytest.mark.skipif(MOSQUITTO is None, reason="mosquitto is not installed")

HASHERS = ["mosquitto_passwd", "builtin"]


def _hasher(name: str) -> str | None:
    if name == "builtin":
        return None
    program = find_mosquitto_passwd()
    if program is None:
        pytest.skip("mosquitto_passwd is not installed (Debian package mosquitto)")
    return program


def _secret(deploy: Path, name: str) -> str:
    return (deploy / "secrets" / name).read_text().splitlines()[0]


@pytest.fixture(params=HASHERS, ids=HASHERS)
def deploy(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    target = tmp_path / "deploy"
    init_deploy(
        DeployOptions(
            directory=target, source=ROOT, owner=OWNER, mosquitto_passwd=_hasher(request.param)
        )
    )
    return target


def _listening(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=1):
        return True


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Callable[[str], int]]:
    """Starts mosquitto on 127.0.0.1 with a config text; returns its port."""
    started: list[ServerProcess] = []

    def start(conf_text: str) -> int:
        port = free_port()
        data = tmp_path / "mosquitto-data"
        data.mkdir(exist_ok=True)
        lines = [f"persistence_location {data}/"]
        if os.geteuid() == 0:
            lines.append("user root")  # as the files' owner: the container runs as its user
        for line in conf_text.splitlines():
            if line.startswith("listener "):
                line = f"listener {port} 127.0.0.1"
            if not line.startswith(("persistence_location", "log_dest")):
                lines.append(line)
        conf = tmp_path / f"mosquitto-{port}.conf"
        conf.write_text("\n".join([*lines, "log_dest stdout", ""]))
        server = ServerProcess(
            "mosquitto",
            [str(MOSQUITTO), "-c", str(conf)],
            tmp_path / f"mosquitto-{port}.log",
            lambda: _listening(port),
        )
        server.start()
        started.append(server)
        return port

    yield start
    for server in started:
        server.stop()


def _compose_conf(deploy: Path) -> str:
    text = (deploy / "mosquitto" / "mosquitto.conf").read_text()
    text = text.replace(
        "/run/secrets/mosquitto_passwd", str(deploy / "secrets" / "mosquitto_passwd")
    )
    return text.replace("/mosquitto/config/acl", str(deploy / "mosquitto" / "acl"))


def test_every_user_logs_in_with_its_password_and_no_one_else(deploy: Path, broker) -> None:
    port = broker(_compose_conf(deploy))
    for user in MQTT_USERS:
        assert mqtt_connect_ok("127.0.0.1", port, user, _secret(deploy, f"mqtt_{user}_password")), (
            user
        )
    assert not mqtt_connect_ok(
        "127.0.0.1", port, "ingester", _secret(deploy, "mqtt_webhook_password")
    )
    assert not mqtt_connect_ok("127.0.0.1", port, "nobody", "x")
    assert not mqtt_connect_ok("127.0.0.1", port)


def test_the_compose_healthcheck_passes_and_fails_as_it_should(deploy: Path, broker) -> None:
    if find_binary("mosquitto_pub") is None:
        pytest.skip("mosquitto_pub is not installed (Debian package mosquitto-clients)")
    port = broker(_compose_conf(deploy))
    compose = yaml.safe_load((deploy / "docker-compose.yml").read_text())
    kind, command = compose["services"]["mosquitto"]["healthcheck"]["test"]
    assert kind == "CMD-SHELL"
    secret = deploy / "secrets" / "mqtt_healthcheck_password"
    command = command.replace("$$", "$").replace("-p 1883", f"-p {port}")
    command = command.replace("/run/secrets/mqtt_healthcheck_password", str(secret))
    ok = subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=30)
    assert ok.returncode == 0, ok.stderr
    secret.write_text("wrong\n")
    bad = subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=30)
    assert bad.returncode != 0


def test_debians_conf_d_snippet_works_with_the_same_files(deploy: Path, broker) -> None:
    text = (deploy / "systemd" / "mosquitto-alertloop.conf").read_text()
    text = text.replace(
        "/etc/mosquitto/alertloop/passwd", str(deploy / "secrets" / "mosquitto_passwd")
    )
    text = text.replace("/etc/mosquitto/alertloop/acl", str(deploy / "mosquitto" / "acl"))
    settings = [ln for ln in text.splitlines() if not ln.startswith("#")]
    assert not [ln for ln in settings if re.search(r"/etc/", ln)], "a path the test did not move"
    port = broker(text + "persistence true\n")
    assert mqtt_connect_ok("127.0.0.1", port, "webhook", _secret(deploy, "mqtt_webhook_password"))
    assert not mqtt_connect_ok("127.0.0.1", port, "webhook", "wrong")


def test_our_check_reads_lines_mosquitto_passwd_makes(tmp_path: Path) -> None:
    program = _hasher("mosquitto_passwd")
    assert program is not None
    path = tmp_path / "passwd"
    subprocess.run(
        [program, "-c", str(path), "alice"],
        input="s3cret\ns3cret\n",
        text=True,
        capture_output=True,
        check=True,
        timeout=30,
    )
    user, hashed = path.read_text().strip().split(":", 1)
    assert user == "alice" and hashed.startswith("$7$")
    assert mosquitto_check("s3cret", hashed)
    assert not mosquitto_check("s3cret!", hashed)
