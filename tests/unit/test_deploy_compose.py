"""The compose file (deploy/docker-compose.yml) against what ``deploy init`` writes: every
mounted file exists, secrets are files under /run/secrets, healthchecks, restarts, start order."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from alertloop.services.deploy import MQTT_USERS, DeployOptions, init_deploy
from alertloop.services.deploy.envfile import parse_env

ROOT = Path(__file__).resolve().parents[2]
OWNER = (1000, 1000) if os.geteuid() == 0 else (os.getuid(), os.getgid())
VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(:?[-?][^}]*)?\}")


@pytest.fixture(scope="module")
def deploy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("deploy")
    init_deploy(DeployOptions(directory=target, source=ROOT, owner=OWNER))
    return target


@pytest.fixture(scope="module")
def compose(deploy: Path) -> dict[str, Any]:
    return yaml.safe_load((deploy / "docker-compose.yml").read_text())


def _services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def _bind_mounts(service: dict[str, Any]) -> list[tuple[str, str]]:
    out = []
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith("."):
            out.append((source, target))
    return out


def test_every_bind_mount_and_secret_file_is_made_by_init(
    deploy: Path, compose: dict[str, Any]
) -> None:
    for name, service in _services(compose).items():
        for source, target in _bind_mounts(service):
            path = deploy / source
            # Docker makes a directory where a mounted path is missing
            assert path.exists(), f"{name}: {source} (for {target}) is not made by deploy init"
    for name, secret in compose["secrets"].items():
        path = deploy / secret["file"]
        assert path.is_file(), name
        assert path.stat().st_mode & 0o077 == 0, f"{name} is readable by others"


def test_services_read_secrets_only_from_mounted_secret_files(compose: dict[str, Any]) -> None:
    for name, service in _services(compose).items():
        mounted = set(service.get("secrets", []))
        assert mounted <= set(compose["secrets"]), name
        for key, value in service.get("environment", {}).items():
            assert "PASSWORD" not in key or key.endswith("FILE"), f"{name}: {key} holds a secret"
            if key.endswith("_FILE"):
                assert value.startswith("/run/secrets/"), (name, key)
                assert value.removeprefix("/run/secrets/") in mounted, (name, key)
        text = yaml.safe_dump(service)
        for used in re.findall(r"/run/secrets/([a-z_]+)", text):
            assert used in mounted, f"{name} reads {used} without mounting it"


def test_containers_reading_secrets_run_as_the_files_owner(compose: dict[str, Any]) -> None:
    for name, service in _services(compose).items():
        if service.get("secrets"):
            assert re.fullmatch(r"\$\{DEPLOY_UID[^}]*\}:\$\{DEPLOY_GID[^}]*\}", service["user"]), (
                name
            )


def test_every_service_has_a_healthcheck_and_restarts(compose: dict[str, Any]) -> None:
    for name, service in _services(compose).items():
        assert service["restart"] in ("unless-stopped", "always", "on-failure"), name
        check = service["healthcheck"]
        assert check["test"][0] in ("CMD", "CMD-SHELL"), name
        for key in ("interval", "timeout", "retries"):
            assert key in check, (name, key)
    tests = {n: " ".join(s["healthcheck"]["test"]) for n, s in _services(compose).items()}
    assert "/ping" in tests["influxdb"]
    assert "/api/health" in tests["grafana"]
    assert "/healthz" in tests["ingester"] and "/healthz" in tests["webhook"]
    assert "mqtt_healthcheck_password" in tests["mosquitto"]
    assert "healthcheck" in MQTT_USERS


def test_services_start_in_dependency_order_once_healthy(compose: dict[str, Any]) -> None:
    services = _services(compose)
    started: list[str] = []
    while len(started) < len(services):
        ready = [
            n
            for n, s in services.items()
            if n not in started and set(s.get("depends_on", {})) <= set(started)
        ]
        assert ready, f"a dependency cycle among {set(services) - set(started)}"
        started += sorted(ready)
    for name, service in services.items():
        for dep, spec in service.get("depends_on", {}).items():
            assert spec == {"condition": "service_healthy"}, (name, dep)
    assert started.index("mosquitto") < started.index("ingester") < started.index("grafana")
    assert set(services["ingester"]["depends_on"]) == {"mosquitto", "influxdb"}
    assert set(services["grafana"]["depends_on"]) == {"influxdb", "webhook"}


def test_every_variable_is_set_by_env_or_has_a_default(
    deploy: Path, compose: dict[str, Any]
) -> None:
    env = parse_env((deploy / ".env").read_text())
    text = yaml.safe_dump(compose, width=1000).replace("$$", "")  # values only, no comments
    for name, default in VAR.findall(text):
        assert name in env or default.startswith((":-", "-")), name
    assert not re.search(r"\$[A-Za-z_{]", VAR.sub("", text)), "a bare $VAR Compose would expand"


def test_mosquitto_reads_the_mounted_password_file_and_acl(
    deploy: Path, compose: dict[str, Any]
) -> None:
    conf = dict(
        line.split(None, 1)
        for line in (deploy / "mosquitto" / "mosquitto.conf").read_text().splitlines()
        if line and not line.startswith("#")
    )
    mosquitto = _services(compose)["mosquitto"]
    assert conf["allow_anonymous"] == "false"
    assert conf["password_file"] == "/run/secrets/mosquitto_passwd"
    assert "mosquitto_passwd" in mosquitto["secrets"]
    targets = {target for _, target in _bind_mounts(mosquitto)}
    assert conf["acl_file"] in targets
    assert conf["persistence_location"].rstrip("/") in targets


def test_grafana_gets_every_variable_its_provisioning_reads(
    deploy: Path, compose: dict[str, Any]
) -> None:
    grafana = _services(compose)["grafana"]
    provided = set(grafana["environment"]) | set(
        re.findall(r"export ([A-Z_]+)=", " ".join(grafana["entrypoint"]))
    )
    wanted = set()
    for path in (deploy / "grafana" / "provisioning").rglob("*.yaml"):
        lines = [ln for ln in path.read_text().splitlines() if not ln.lstrip().startswith("#")]
        wanted |= set(re.findall(r"\$\{?(ALERTLOOP_[A-Z_]+)", "\n".join(lines)))
    assert wanted and wanted <= provided, wanted - provided
    assert grafana["environment"]["GF_SECURITY_ADMIN_PASSWORD__FILE"] == (
        "/run/secrets/grafana_admin_password"
    )
    assert grafana["environment"]["ALERTLOOP_WEBHOOK_USER"] == "grafana"
    port = _services(compose)["webhook"]["environment"]["ALERTLOOP_WEBHOOK_BIND"].split(":")[1]
    assert grafana["environment"]["ALERTLOOP_WEBHOOK_URL"] == f"http://webhook:{port}/alert"
