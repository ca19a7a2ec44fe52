"""A Compose implementation reads the deploy directory as intended: ``podman-compose config``
(podman-compose from PyPI, which checks that podman answers) resolves the compose file with
the ``.env`` that ``deploy init`` wrote, and a single-quoted hash reaches a container whole."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from alertloop.services.deploy import DeployOptions, init_deploy
from alertloop.services.deploy.envfile import format_env
from alertloop.services.webhook.passwords import hash_password

ROOT = Path(__file__).resolve().parents[2]
OWNER = (1000, 1000) if os.geteuid() == 0 else (os.getuid(), os.getgid())
pytestmark = [
    pytest.mark.skipif(
        importlib.util.find_spec("podman_compose") is None,
        reason="podman-compose is not installed (pip install 'podman-compose>=1.2')",
    ),
    pytest.mark.skipif(shutil.which("podman") is None, reason="podman-compose needs podman"),
]


def _config(directory: Path) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-m", "podman_compose", "config"],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def test_the_deploy_directory_resolves(tmp_path: Path) -> None:
    init_deploy(DeployOptions(directory=tmp_path, source=ROOT, owner=OWNER, mqtt_port=18830))
    config = _config(tmp_path)
    services = config["services"]
    assert set(services) == {"mosquitto", "influxdb", "ingester", "webhook", "grafana"}
    assert services["mosquitto"]["user"] == f"{OWNER[0]}:{OWNER[1]}"
    assert "18830:1883" in str(services["mosquitto"]["ports"])
    assert Path(services["ingester"]["build"]["context"]) == ROOT
    assert services["webhook"]["environment"]["ALERTLOOP_WEBHOOK_USERS_FILE"] == (
        "/run/secrets/webhook_users"
    )
    # $$ reaches the container as a single $: the shell there reads the secret file
    assert '"$(cat /run/secrets/webhook_password)"' in " ".join(services["grafana"]["entrypoint"])
    for name, secret in config["secrets"].items():
        assert (tmp_path / secret["file"]).is_file(), name


def test_a_quoted_hash_reaches_the_container_whole(tmp_path: Path) -> None:
    hashed = f"grafana:{hash_password('pw')}"
    assert hashed.count("$") == 2
    (tmp_path / ".env").write_text(format_env({"USERS": hashed, "PLAIN": "iot"}))
    (tmp_path / "docker-compose.yml").write_text(
        "services:\n  probe:\n    image: busybox\n"
        "    environment:\n      USERS: ${USERS}\n      PLAIN: ${PLAIN}\n"
    )
    environment = _config(tmp_path)["services"]["probe"]["environment"]
    assert environment == {"USERS": hashed, "PLAIN": "iot"}
