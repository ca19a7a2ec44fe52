"""ejabberd's ``mod_mqtt`` as a second, independent MQTT 5 broker for the conformance suite.

``EjabberdBroker`` starts its own ejabberd (Debian's ``ejabberd`` package) in the foreground
from a generated config in a temp dir, never the system service. Its node name, its Erlang
distribution port and its MQTT ports (plain, and TLS with a certificate from a test CA made
with openssl) are its own, on free loopback ports without epmd; its Mnesia spool and logs
live in the temp dir. ``ejabberdctl`` runs as the ``ejabberd`` user, so the temp dir belongs
to that user. ``mod_mqtt`` authenticates against ejabberd's users, so a user is registered
once the node is up. A stop and start keeps the spool (the user, retained messages);
``mod_mqtt`` keeps sessions in memory, so a restart loses them.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from alertloop.hil.stack.base import ServerStartError
from alertloop.hil.stack.native import find_binary
from alertloop.hil.stack.probes import free_port, mqtt_connect_ok
from alertloop.hil.stack.tls import TestCertificates
from alertloop.services.common.config import MqttSettings, MqttTls
from alertloop.services.common.deadline import Deadline, wait_until
from alertloop.services.common.errors import TimeoutExpired

__all__ = ["EjabberdBroker", "ejabberd_missing"]

USER, PASSWORD = "alertloop", "alertloop-conformance"
_HOST = "localhost"


def ejabberd_missing() -> str | None:
    """Why this machine cannot run the broker, or None when it can."""
    if find_binary("ejabberdctl") is None:
        return "ejabberd is not installed (apt-get install ejabberd)"
    try:
        pwd.getpwnam("ejabberd")
    except KeyError:
        return "the ejabberd user does not exist (reinstall the ejabberd package)"
    if os.geteuid() != 0 and pwd.getpwuid(os.geteuid()).pw_name != "ejabberd":
        return "ejabberdctl runs as the ejabberd user: the suite must run as root or as ejabberd"
    return None


def _config(mqtt_port: int, tls_port: int, bundle: Path) -> str:
    return f"""\
hosts:
  - {_HOST}
loglevel: info
hide_sensitive_log_data: true
certfiles:
  - "{bundle}"
listen:
  -
    port: {mqtt_port}
    ip: "127.0.0.1"
    module: mod_mqtt
    backlog: 1000
  -
    port: {tls_port}
    ip: "127.0.0.1"
    module: mod_mqtt
    tls: true
    backlog: 1000
auth_method: internal
default_db: mnesia
acl:
  local:
    user_regexp: ""
access_rules:
  local:
    allow: local
modules:
  mod_mqtt: {{}}
"""


class EjabberdBroker:
    """One ejabberd node with ``mod_mqtt`` on a free port of 127.0.0.1 and a registered user."""

    def __init__(self, start_timeout: float = 60.0) -> None:
        self.start_timeout = start_timeout
        self.root: Path | None = None
        self.port = 0
        self.tls_port = 0
        self.certs: TestCertificates | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def mqtt(self) -> MqttSettings:
        """The broker, logged in as the registered user."""
        return MqttSettings("127.0.0.1", self.port, USER, PASSWORD)

    @property
    def tls(self) -> MqttSettings:
        """The TLS listener (certificate from a test CA made with openssl), logged in."""
        assert self.certs is not None
        options = MqttTls(ca_file=str(self.certs.ca))
        return replace(self.mqtt, port=self.tls_port, tls=True, tls_options=options)

    @property
    def pid(self) -> int | None:
        """The pid of our child: ``ejabberdctl``'s shell, leader of the node's process group."""
        return self._proc.pid if self._proc is not None else None

    def _ctl(self, *args: str) -> list[str]:
        assert self.root is not None
        return [
            find_binary("ejabberdctl") or "ejabberdctl",
            "--config-dir", str(self.root), "--logs", str(self.root / "logs"),
            "--spool", str(self.root / "spool"), *args,
        ]  # fmt: skip

    def _prepare(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="alertloop-ejabberd-"))
        self.port = free_port()
        dist_port = free_port()
        (self.root / "logs").mkdir()
        (self.root / "spool").mkdir()
        self.tls_port = free_port()
        self.certs = TestCertificates.create(self.root / "pki")
        bundle = self.root / "pki" / "server-bundle.pem"
        bundle.write_bytes(self.certs.server_cert.read_bytes() + self.certs.server_key.read_bytes())
        (self.root / "ejabberd.yml").write_text(_config(self.port, self.tls_port, bundle))
        (self.root / "ejabberdctl.cfg").write_text(
            f"ERLANG_NODE=alertloop{self.port}@localhost\n"
            f"EJABBERD_PID_PATH={self.root / 'ejabberd.pid'}\n"
            "ERL_EPMD_ADDRESS=127.0.0.1\n"
            f"ERL_DIST_PORT={dist_port}\n"
            'ERL_OPTIONS="-env ERL_CRASH_DUMP_BYTES 0"\n'
        )
        inetrc = Path("/etc/ejabberd/inetrc")
        if inetrc.is_file():
            shutil.copyfile(inetrc, self.root / "inetrc")
        account = pwd.getpwnam("ejabberd")
        for path in [self.root, *self.root.rglob("*")]:
            os.chown(path, account.pw_uid, account.pw_gid)

    def _as_ejabberd(self) -> dict[str, Any]:
        """Popen arguments that run a command as the ``ejabberd`` user, as ``ejabberdctl``
        itself would through ``su``, but as our own child in a process group of ours."""
        account = pwd.getpwnam("ejabberd")
        env = {**os.environ, "HOME": account.pw_dir, "USER": "ejabberd", "LOGNAME": "ejabberd"}
        if os.geteuid() != 0:
            return {"env": env}
        return {"env": env, "user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}

    def start(self) -> EjabberdBroker:
        """Start the node (first time: write the config, register the user); wait until an
        MQTT login works. Raises ServerStartError with the log tail."""
        first = self.root is None
        if first:
            self._prepare()
        assert self.root is not None
        log = open(self.root / "foreground.log", "ab")  # noqa: SIM115 - handed to the child
        try:
            self._proc = subprocess.Popen(
                self._ctl("foreground"),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # a group of its own: the shell and the Erlang VM
                **self._as_ejabberd(),
            )
        finally:
            log.close()
        deadline = Deadline(self.start_timeout)
        try:
            wait_until(self._listening, deadline.remaining, what="ejabberd's MQTT port")
            if first:
                self._register(deadline)
            wait_until(
                lambda: self._probe(USER, PASSWORD),
                deadline.remaining,
                what=f"an MQTT login to ejabberd as {USER}",
            )
        except (TimeoutExpired, OSError, subprocess.SubprocessError) as exc:
            tail = self.log_tail()
            self.stop()
            raise ServerStartError(
                f"ejabberd did not start: {exc}; last log lines:\n{tail}"
            ) from exc
        return self

    def _probe(self, user: str | None = None, password: str | None = None) -> bool:
        """An MQTT login works. Raises ServerStartError when the node has exited."""
        if self._proc is not None and self._proc.poll() is not None:
            raise ServerStartError(
                f"ejabberd exited with {self._proc.returncode}:\n{self.log_tail()}"
            )
        try:
            return mqtt_connect_ok("127.0.0.1", self.port, user, password)
        except OSError:
            return False

    def _listening(self) -> bool:
        """The MQTT port accepts connections (before the user exists, a login is refused)."""
        self._probe()  # raises when the node has exited
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1.0):
                return True
        except OSError:
            return False

    def _register(self, deadline: Deadline) -> None:
        result = subprocess.run(
            self._ctl("register", USER, _HOST, PASSWORD),
            capture_output=True,
            text=True,
            timeout=max(deadline.remaining, 1.0),
            **self._as_ejabberd(),
        )
        if result.returncode != 0 and "already registered" not in result.stdout:
            raise OSError(f"ejabberdctl register failed: {result.stdout}{result.stderr}")

    def stop(self) -> None:
        """Stop the node (``ejabberdctl stop``; SIGKILL to its process group if that fails)."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        os.killpg(proc.pid, signal.SIGCONT)
        try:
            subprocess.run(
                self._ctl("stop"), capture_output=True, timeout=20, **self._as_ejabberd()
            )
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # our child's group: the shell and the VM
            proc.wait(10)

    def suspend(self) -> None:
        """Freeze the node (SIGSTOP to its process group: connections stay, nothing answers)."""
        if self._proc is not None:
            os.killpg(self._proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        """Let a frozen node run again (SIGCONT to its process group)."""
        if self._proc is not None:
            os.killpg(self._proc.pid, signal.SIGCONT)

    def close(self) -> None:
        """Stop the node and remove its temp dir."""
        self.stop()
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    def log_tail(self, lines: int = 30) -> str:
        if self.root is None:
            return "(not started)"
        out = []
        for name in ("logs/ejabberd.log", "logs/error.log"):
            path = self.root / name
            if path.is_file():
                out += [f"--- {name}", *path.read_text(errors="replace").splitlines()[-lines:]]
        return "\n".join(out) or "(no log)"
