"""The systemd units of a host without Docker (deploy/systemd/): what they read is what
``deploy init`` writes, they are hardened, and ``systemd-analyze verify`` accepts them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from alertloop.services.deploy import DeployOptions, init_deploy
from alertloop.services.deploy.envfile import parse_env

ROOT = Path(__file__).resolve().parents[2]
UNITS = ROOT / "deploy" / "systemd"
SERVICES = ("alertloop-ingester.service", "alertloop-webhook.service")
OWNER = (1000, 1000) if os.geteuid() == 0 else (os.getuid(), os.getgid())
INSTALLED = "/opt/alertloop/bin/alertloop"
HARDENING = {
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "PrivateDevices": "yes",
    "CapabilityBoundingSet": "",
    "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
    "SystemCallFilter": "@system-service",
}


def _parse(path: Path) -> dict[str, list[tuple[str, str]]]:
    sections: dict[str, list[tuple[str, str]]] = {}
    current = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = line.strip("[]")
            sections.setdefault(current, [])
            continue
        key, _, value = line.partition("=")
        sections[current].append((key, value))
    return sections


def _values(section: list[tuple[str, str]], key: str) -> list[str]:
    return [v for k, v in section if k == key]


@pytest.fixture(scope="module")
def deploy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("deploy")
    init_deploy(DeployOptions(directory=target, source=ROOT, owner=OWNER))
    return target


@pytest.mark.parametrize("unit", SERVICES)
def test_units_read_files_deploy_init_writes(unit: str, deploy: Path) -> None:
    service = _parse(UNITS / unit)["Service"]
    assert _values(service, "User") == ["alertloop"]
    assert _values(service, "Restart") == ["on-failure"]
    assert _values(service, "EnvironmentFile") == ["/etc/alertloop/alertloop.env"]
    assert (deploy / "alertloop.env").is_file()
    credentials = {}
    for value in _values(service, "LoadCredential"):
        name, _, source = value.partition(":")
        assert source.startswith("/etc/alertloop/secrets/"), value
        assert (deploy / "secrets" / Path(source).name).is_file(), value
        credentials[name] = source
    env = dict(v.split("=", 1) for v in _values(service, "Environment"))
    files = {k: v for k, v in env.items() if k.endswith("_FILE")}
    assert "ALERTLOOP_MQTT_PASSWORD_FILE" in files
    for key, value in files.items():
        assert value.startswith("%d/") and value[3:] in credentials, key
    assert (
        env["ALERTLOOP_MQTT_URL"].startswith("mqtt://")
        and "@127.0.0.1:" in env["ALERTLOOP_MQTT_URL"]
    )
    assert ":" not in env["ALERTLOOP_MQTT_URL"].split("//")[1].split("@")[0], "password in URL"


@pytest.mark.parametrize("unit", SERVICES)
def test_units_are_hardened(unit: str) -> None:
    service = _parse(UNITS / unit)["Service"]
    for key, value in HARDENING.items():
        assert value in _values(service, key), key


def test_the_ingester_spools_in_its_state_directory() -> None:
    service = _parse(UNITS / "alertloop-ingester.service")["Service"]
    (state,) = _values(service, "StateDirectory")
    env = dict(v.split("=", 1) for v in _values(service, "Environment"))
    assert env["ALERTLOOP_INGEST_SPOOL_DIR"].startswith(f"%S/{state}/")


def test_grafana_notifies_where_the_webhook_unit_listens(deploy: Path) -> None:
    service = _parse(UNITS / "alertloop-webhook.service")["Service"]
    env = dict(v.split("=", 1) for v in _values(service, "Environment"))
    grafana = parse_env((deploy / "secrets" / "grafana.env").read_text())
    assert grafana["ALERTLOOP_WEBHOOK_URL"] == f"http://{env['ALERTLOOP_WEBHOOK_BIND']}/alert"
    units = parse_env((deploy / "alertloop.env").read_text())
    assert grafana["ALERTLOOP_INFLUX_URL"] == units["ALERTLOOP_INFLUX_URL"]
    assert grafana["ALERTLOOP_INFLUX_DB"] == units["ALERTLOOP_INFLUX_DB"] == "iot"


def test_grafana_and_mosquitto_snippets_read_what_init_writes(deploy: Path) -> None:
    dropin = _parse(UNITS / "grafana-server.service.d" / "alertloop.conf")["Service"]
    (env_file,) = _values(dropin, "EnvironmentFile")
    assert env_file == "/etc/alertloop/secrets/grafana.env"
    assert (deploy / "secrets" / "grafana.env").is_file()
    conf = (UNITS / "mosquitto-alertloop.conf").read_text()
    assert "allow_anonymous false" in conf
    assert "password_file /etc/mosquitto/alertloop/passwd" in conf
    assert (deploy / "systemd" / "mosquitto-alertloop.conf").read_text() == conf


def _verify(unit_dir: Path, unit: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [VERIFY, "verify", "--man=no", str(unit_dir / unit)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


VERIFY = shutil.which("systemd-analyze")
needs_verify = pytest.mark.skipif(
    VERIFY is None, reason="systemd-analyze is not installed (Debian package systemd)"
)


def _installed_copy(tmp_path: Path, unit: str, extra: str = "") -> Path:
    # verify wants ExecStart's program to exist: the alertloop of this environment stands in
    # for the one the docs install in /opt/alertloop.
    program = shutil.which("alertloop") or str(Path(sys.executable).with_name("alertloop"))
    assert Path(program).is_file()
    text = (UNITS / unit).read_text().replace(INSTALLED, program)
    (tmp_path / unit).write_text(text + extra)
    return tmp_path


@needs_verify
@pytest.mark.parametrize("unit", SERVICES)
def test_systemd_analyze_verify_accepts_the_units(unit: str, tmp_path: Path) -> None:
    assert INSTALLED in (UNITS / unit).read_text()
    result = _verify(_installed_copy(tmp_path, unit), unit)
    complaints = [ln for ln in (result.stdout + result.stderr).splitlines() if unit in ln]
    assert result.returncode == 0, result.stderr
    assert complaints == []


@needs_verify
def test_systemd_analyze_verify_would_see_a_mistake(tmp_path: Path) -> None:
    unit = SERVICES[0]
    result = _verify(_installed_copy(tmp_path, unit, "\n[Service]\nRestrat=on-failure\n"), unit)
    assert "Unknown key" in result.stderr and unit in result.stderr
