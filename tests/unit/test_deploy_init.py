"""``alertloop deploy init``: the files, their modes, secrets kept out of the settings, the
refusal to overwrite, exit codes (services/deploy/)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from alertloop.hil import cli as alertloop_cli
from alertloop.services.deploy import MQTT_USERS, DeployExistsError, DeployOptions, init_deploy
from alertloop.services.deploy.cli import main
from alertloop.services.deploy.credentials import mosquitto_check
from alertloop.services.deploy.envfile import parse_env
from alertloop.services.deploy.errors import DeployError, DeployUsageError
from alertloop.services.webhook.passwords import PasswordVerifier, load_users_file

ROOT = Path(__file__).resolve().parents[2]
# As root the files go to a normal user's ids (root as owner is refused); else to ours.
OWNER = (1000, 1000) if os.geteuid() == 0 else (os.getuid(), os.getgid())
OWNER_ARG = [] if os.geteuid() != 0 else ["--owner", "1000:1000"]


def _options(directory: Path, **kw: object) -> DeployOptions:
    return DeployOptions(directory=directory, source=ROOT, owner=OWNER, **kw)  # type: ignore[arg-type]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _secret(directory: Path, name: str) -> str:
    return (directory / "secrets" / name).read_text().splitlines()[0]


@pytest.fixture
def deploy(tmp_path: Path) -> Path:
    target = tmp_path / "deploy"
    init_deploy(_options(target))
    return target


def test_writes_settings_secrets_configs_and_data_dirs(deploy: Path) -> None:
    for rel in (
        ".env",
        "alertloop.env",
        "docker-compose.yml",
        "mosquitto/mosquitto.conf",
        "mosquitto/acl",
        "grafana/provisioning/alerting/contact-points.yaml",
        "systemd/alertloop-ingester.service",
        "secrets/mosquitto_passwd",
        "secrets/webhook_users",
        "secrets/webhook_password",
        "secrets/grafana_admin_password",
        "secrets/grafana.env",
    ):
        assert (deploy / rel).is_file(), rel
    for rel in ("data/mosquitto", "data/grafana", "data/ingester"):
        assert (deploy / rel).is_dir(), rel
    assert (deploy / "docker-compose.yml").read_text() == (
        ROOT / "deploy" / "docker-compose.yml"
    ).read_text()


def test_secrets_are_0600_in_a_0700_directory_owned_by_the_owner(deploy: Path) -> None:
    assert _mode(deploy / "secrets") == 0o700
    files = sorted((deploy / "secrets").iterdir())
    assert len(files) == len(MQTT_USERS) + 5
    for path in files:
        assert _mode(path) == 0o600, path.name
        assert (path.stat().st_uid, path.stat().st_gid) == OWNER
    assert _mode(deploy / "mosquitto" / "acl") == 0o600
    assert _mode(deploy / ".env") == 0o644


def test_every_secret_is_random_and_different(deploy: Path, tmp_path: Path) -> None:
    names = [f"mqtt_{u}_password" for u in MQTT_USERS] + [
        "webhook_password",
        "grafana_admin_password",
    ]
    values = [_secret(deploy, n) for n in names]
    assert len(set(values)) == len(values)
    assert all(len(v) >= 32 for v in values)
    other = tmp_path / "other"
    init_deploy(_options(other))
    assert _secret(other, "webhook_password") != _secret(deploy, "webhook_password")


def test_no_secret_appears_in_the_settings_files(deploy: Path) -> None:
    settings = (deploy / ".env").read_text() + (deploy / "alertloop.env").read_text()
    for path in (deploy / "secrets").iterdir():
        if path.name.endswith("_password"):
            assert _secret(deploy, path.name) not in settings, path.name
    env = parse_env((deploy / ".env").read_text())
    assert env["DEPLOY_UID"] == str(OWNER[0]) and env["DEPLOY_GID"] == str(OWNER[1])
    assert env["DEPLOY_SOURCE"] == str(ROOT)


def test_mosquitto_file_holds_every_user_with_its_password(deploy: Path) -> None:
    lines = (deploy / "secrets" / "mosquitto_passwd").read_text().splitlines()
    entries = dict(line.split(":", 1) for line in lines)
    assert list(entries) == list(MQTT_USERS)
    for user, hashed in entries.items():
        assert hashed.startswith("$7$")
        assert mosquitto_check(_secret(deploy, f"mqtt_{user}_password"), hashed), user
        assert not mosquitto_check("wrong", hashed)


def test_webhook_users_file_accepts_the_password_grafana_sends(deploy: Path) -> None:
    users = load_users_file(deploy / "secrets" / "webhook_users")
    assert list(users) == ["grafana"]
    verifier = PasswordVerifier(users)
    assert verifier.verify("grafana", _secret(deploy, "webhook_password"))
    assert not verifier.verify("grafana", "wrong")
    grafana = parse_env((deploy / "secrets" / "grafana.env").read_text())
    assert grafana["ALERTLOOP_WEBHOOK_PASSWORD"] == _secret(deploy, "webhook_password")
    assert grafana["GF_SECURITY_ADMIN_PASSWORD"] == _secret(deploy, "grafana_admin_password")
    assert grafana["ALERTLOOP_WEBHOOK_USER"] == "grafana"


def test_refuses_to_overwrite_without_force(deploy: Path) -> None:
    before = _secret(deploy, "mqtt_ingester_password")
    with pytest.raises(DeployExistsError, match="--force") as info:
        init_deploy(_options(deploy))
    assert "secrets/mosquitto_passwd" in info.value.paths
    assert _secret(deploy, "mqtt_ingester_password") == before
    init_deploy(_options(deploy, force=True))
    assert _secret(deploy, "mqtt_ingester_password") != before


def test_refuses_when_one_secret_alone_exists(tmp_path: Path) -> None:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "webhook_users").write_text("grafana:x\n")
    with pytest.raises(DeployExistsError) as info:
        init_deploy(_options(tmp_path))
    assert info.value.paths == ["secrets/webhook_users"]
    assert not (tmp_path / ".env").exists()


def test_data_kept_and_a_directory_in_place_of_a_file_named(deploy: Path) -> None:
    (deploy / "data" / "grafana" / "grafana.db").write_text("x")
    report = init_deploy(_options(deploy, force=True))
    assert report.kept_data == ["data/grafana"]
    assert (deploy / "data" / "grafana" / "grafana.db").read_text() == "x"
    (deploy / "secrets" / "webhook_users").unlink()
    (deploy / "secrets" / "webhook_users").mkdir()  # what Docker leaves for a missing file
    with pytest.raises(DeployError, match="is a directory"):
        init_deploy(_options(deploy, force=True))


def test_root_as_owner_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DeployUsageError, match="--owner"):
        init_deploy(DeployOptions(directory=tmp_path, source=ROOT, owner=(0, 0)))
    assert list(tmp_path.iterdir()) == []


def test_another_owner_needs_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("getuid", "geteuid", "getgid"):
        monkeypatch.setattr(os, name, lambda: 1000)  # as a normal user
    with pytest.raises(DeployUsageError, match="needs root"):
        init_deploy(DeployOptions(directory=tmp_path, source=ROOT, owner=(1001, 1001)))
    assert list(tmp_path.iterdir()) == []


def test_cli_writes_and_says_what(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["init", str(tmp_path / "d"), "--builtin-hash", *OWNER_ARG])
    out = capsys.readouterr().out
    assert code == 0
    assert "secrets/mosquitto_passwd  (secret, 0600)" in out
    assert "built-in" in out and "docker compose up" in out


def test_cli_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    assert "init" in capsys.readouterr().out
    assert main(["init", str(tmp_path), "--builtin-hash", *OWNER_ARG]) == 0
    capsys.readouterr()
    assert main(["init", str(tmp_path), "--builtin-hash", *OWNER_ARG]) == 1
    assert "--force" in capsys.readouterr().err
    assert main(["init", str(tmp_path / "x"), "--source", str(tmp_path), *OWNER_ARG]) == 2
    assert "deploy/docker-compose.yml not found" in capsys.readouterr().err
    assert main(["init", str(tmp_path), "--owner", "me"]) == 2
    assert "--owner: expected UID:GID" in capsys.readouterr().err


def test_the_alertloop_command_knows_deploy(capsys: pytest.CaptureFixture[str]) -> None:
    assert alertloop_cli.main(["deploy"]) == 0
    assert "init" in capsys.readouterr().out
