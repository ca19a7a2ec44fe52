"""What a deploy directory holds: the settings, the secrets, the copied configs, the data dirs.

```
DIR/.env                       Compose settings (no secrets)
DIR/docker-compose.yml         copied from the checkout's deploy/
DIR/mosquitto/mosquitto.conf   copied; reads /run/secrets/mosquitto_passwd
DIR/mosquitto/acl              copied
DIR/grafana/provisioning/      copied from the installed package
DIR/systemd/                   the units and config snippets for a host without Docker
DIR/alertloop.env              settings of the systemd units (no secrets)
DIR/secrets/                   0700; every file 0600: passwords, mosquitto_passwd,
                               webhook_users, grafana.env (Grafana's settings without Docker)
DIR/data/{mosquitto,grafana,ingester}/   bind-mounted state, owned by the containers' user
```
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import alertloop.services
from alertloop.services.deploy.credentials import mosquitto_password_file, random_secret
from alertloop.services.deploy.envfile import format_env
from alertloop.services.webhook.passwords import hash_password

# MQTT users with a password: the services, the boards, people, the broker's healthcheck.
MQTT_USERS = ("ingester", "webhook", "esp32", "nodemcu", "operator", "healthcheck")
WEBHOOK_USER = "grafana"  # the user Grafana's contact point sends
DATA_DIRS = ("data/mosquitto", "data/grafana", "data/ingester")
PROVISIONING = Path(alertloop.services.__file__).resolve().parent / "grafana" / "provisioning"
# Copied from the checkout's deploy/ folder: (source under deploy/, target under DIR, mode).
COPIED = (
    ("docker-compose.yml", "docker-compose.yml", 0o644),
    ("mosquitto/mosquitto.conf", "mosquitto/mosquitto.conf", 0o644),
    # mosquitto warns about ACL files others can read; the broker runs as the owner.
    ("mosquitto/acl", "mosquitto/acl", 0o600),
)
SECRET_MODE = 0o600


@dataclass(frozen=True)
class DeployOptions:
    """How to write a deploy directory. ``owner`` is the (uid, gid) the files and the
    containers get; ``mosquitto_passwd`` the program that hashes MQTT passwords (None: this
    package writes mosquitto's format itself)."""

    directory: Path
    source: Path
    owner: tuple[int, int]
    force: bool = False
    mosquitto_passwd: str | None = None
    influx_db: str = "iot"
    mqtt_port: int = 1883
    grafana_port: int = 3000
    image: str = "alertloop:latest"


@dataclass(frozen=True)
class PlannedFile:
    path: str  # relative to the deploy directory
    text: str
    mode: int
    secret: bool = False


@dataclass
class Plan:
    files: list[PlannedFile] = field(default_factory=list)
    dirs: dict[str, int] = field(default_factory=dict)  # relative path -> mode

    def add(self, path: str, text: str, mode: int = 0o644, *, secret: bool = False) -> None:
        self.files.append(PlannedFile(path, text, mode, secret))
        parent = str(Path(path).parent)
        if parent != "." and parent not in self.dirs:
            self.dirs[parent] = 0o700 if secret else 0o755


def deploy_sources(source: Path) -> Path:
    """The checkout's ``deploy/`` folder; raises FileNotFoundError naming what is missing."""
    folder = source / "deploy"
    for name, _, _ in COPIED:
        if not (folder / name).is_file():
            raise FileNotFoundError(
                f"{folder / name} not found (is {source} an alertloop checkout?)"
            )
    return folder


def _compose_env(options: DeployOptions) -> str:
    uid, gid = options.owner
    return format_env(
        {
            "DEPLOY_SOURCE": str(options.source),
            "DEPLOY_IMAGE": options.image,
            "DEPLOY_UID": str(uid),
            "DEPLOY_GID": str(gid),
            "DEPLOY_MQTT_PORT": str(options.mqtt_port),
            "DEPLOY_GRAFANA_PORT": str(options.grafana_port),
            "ALERTLOOP_INFLUX_DB": options.influx_db,
        },
        comments=[
            "Docker Compose settings, written by 'alertloop deploy init'. No secrets here: the",
            "passwords are files in secrets/, mounted as Compose secrets.",
            "Compose expands $VAR in values that are not single-quoted: keep the quotes.",
            "DEPLOY_UID/GID: the user the containers that read secrets run as (the files' owner).",
        ],
    )


def _units_env(options: DeployOptions) -> str:
    return format_env(
        {"ALERTLOOP_INFLUX_URL": "http://127.0.0.1:8086", "ALERTLOOP_INFLUX_DB": options.influx_db},
        comments=[
            "Settings of the alertloop-ingester and alertloop-webhook units (EnvironmentFile=)",
            "on a host without Docker; install as /etc/alertloop/alertloop.env. No secrets here.",
        ],
    )


def _grafana_env(options: DeployOptions, admin_password: str, webhook_password: str) -> str:
    return format_env(
        {
            "GF_SECURITY_ADMIN_PASSWORD": admin_password,
            "ALERTLOOP_INFLUX_URL": "http://127.0.0.1:8086",
            "ALERTLOOP_INFLUX_DB": options.influx_db,
            "ALERTLOOP_WEBHOOK_URL": "http://127.0.0.1:8080/alert",
            "ALERTLOOP_WEBHOOK_USER": WEBHOOK_USER,
            "ALERTLOOP_WEBHOOK_PASSWORD": webhook_password,
        },
        comments=[
            "Grafana's environment on a host without Docker (grafana-server's EnvironmentFile=,",
            "see systemd/grafana-server.service.d/alertloop.conf). Secret: keep it 0600 root.",
        ],
    )


def build_plan(options: DeployOptions) -> Plan:
    """Every file and directory of the deploy, with fresh random secrets.

    Raises FileNotFoundError when the checkout lacks a copied file, DeployError when hashing
    the MQTT passwords fails.
    """
    sources = deploy_sources(options.source)
    plan = Plan()
    plan.add(".env", _compose_env(options))
    plan.add("alertloop.env", _units_env(options))
    for src, target, mode in COPIED:
        plan.add(target, (sources / src).read_text(encoding="utf-8"), mode)
    for path in sorted(PROVISIONING.rglob("*")):
        if path.is_file():
            rel = path.relative_to(PROVISIONING).as_posix()
            plan.add(f"grafana/provisioning/{rel}", path.read_text(encoding="utf-8"))
    systemd = sources / "systemd"
    if systemd.is_dir():
        for path in sorted(systemd.rglob("*")):
            if path.is_file():
                plan.add(f"systemd/{path.relative_to(systemd).as_posix()}", path.read_text())

    mqtt = {user: random_secret() for user in MQTT_USERS}
    for user, password in mqtt.items():
        plan.add(f"secrets/mqtt_{user}_password", password + "\n", SECRET_MODE, secret=True)
    passwd = mosquitto_password_file(mqtt, program=options.mosquitto_passwd)
    plan.add("secrets/mosquitto_passwd", passwd, SECRET_MODE, secret=True)
    webhook_password = random_secret()
    plan.add("secrets/webhook_password", webhook_password + "\n", SECRET_MODE, secret=True)
    users = f"{WEBHOOK_USER}:{hash_password(webhook_password)}\n"
    plan.add("secrets/webhook_users", users, SECRET_MODE, secret=True)
    admin = random_secret()
    plan.add("secrets/grafana_admin_password", admin + "\n", SECRET_MODE, secret=True)
    plan.add(
        "secrets/grafana.env",
        _grafana_env(options, admin, webhook_password),
        SECRET_MODE,
        secret=True,
    )
    plan.dirs["secrets"] = 0o700
    for folder in DATA_DIRS:
        plan.dirs.setdefault(folder, 0o700)
    return plan


def default_source() -> Path | None:
    """The checkout that holds this installed package (an editable install), or the current
    directory when it is a checkout; None when neither has ``deploy/docker-compose.yml``."""
    here = Path(alertloop.services.__file__).resolve().parent.parent
    for candidate in (here, Path(os.getcwd())):
        if (candidate / "deploy" / "docker-compose.yml").is_file():
            return candidate
    return None
