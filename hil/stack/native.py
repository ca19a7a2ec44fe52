"""The native backend: Debian's ``mosquitto`` and ``influxd`` started as subprocesses.

Each stack gets its own temp dir with generated configs, data dirs and logs, and free ports on
127.0.0.1 (influxd's RPC port included). It never talks to a server it did not start.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from alertloop.hil.stack.base import MissingBinaries, ServerControl, ServerStartError, Stack
from alertloop.hil.stack.probes import free_port, influx_ping_ok, mqtt_connect_ok
from alertloop.hil.stack.server import ServerProcess
from alertloop.services.common.config import DEFAULT_INFLUX_DB, InfluxSettings, MqttSettings

_SEARCH_DIRS = ("/usr/sbin", "/usr/local/sbin", "/usr/bin", "/usr/local/bin")
INSTALL_HINT = "install them with 'make setup' or 'sudo apt-get install mosquitto influxdb'"


def find_binary(name: str) -> str | None:
    """The path of ``name`` on PATH or in the sbin/bin directories Debian installs to."""
    found = shutil.which(name)
    if found:
        return found
    for folder in _SEARCH_DIRS:
        candidate = Path(folder) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def missing_binaries() -> list[str]:
    """The native binaries that are not installed (empty when the backend can run)."""
    return [name for name in ("mosquitto", "influxd") if find_binary(name) is None]


def _mosquitto_conf(
    root: Path, port: int, users: dict[str, str] | None, max_queued: int, acl: bool = False
) -> str:
    lines = [
        "per_listener_settings false",
        "persistence true",
        f"persistence_location {root / 'mosquitto-data'}/",
        "autosave_interval 60",
        "log_dest stdout",
        "log_type error",
        "log_type warning",
        "log_type notice",
        "log_type information",
        "connection_messages true",
        f"max_queued_messages {max_queued}",
        "set_tcp_nodelay true",
        f"listener {port} 127.0.0.1",
    ]
    if os.geteuid() == 0:
        lines.insert(0, "user root")  # keep root so the temp dir stays writable
    if users:
        lines += ["allow_anonymous false", f"password_file {root / 'mosquitto.passwd'}"]
    else:
        lines.append("allow_anonymous true")
    if acl:
        lines.append(f"acl_file {root / 'mosquitto.acl'}")
    return "\n".join(lines) + "\n"


def _influxd_conf(root: Path, http_port: int, rpc_port: int) -> str:
    return f"""\
reporting-disabled = true
bind-address = "127.0.0.1:{rpc_port}"

[meta]
  dir = "{root / "influx" / "meta"}"

[data]
  dir = "{root / "influx" / "data"}"
  wal-dir = "{root / "influx" / "wal"}"
  query-log-enabled = false
  wal-fsync-delay = "0s"

[monitor]
  store-enabled = false

[http]
  enabled = true
  bind-address = "127.0.0.1:{http_port}"
  auth-enabled = false
  log-enabled = false
  max-body-size = 25000000

[ifql]
  enabled = false

[logging]
  level = "warn"

[continuous_queries]
  enabled = false

[subscriber]
  enabled = false
"""


class NativeStack(Stack):
    """mosquitto + influxd as subprocesses on free ports of 127.0.0.1.

    ``mqtt_users`` ({user: password}) turns anonymous access off and writes a password file.
    ``max_queued_messages`` is mosquitto's per-client queue for offline persistent sessions.
    ``acl_file`` applies a mosquitto ACL file (for example ``deploy/mosquitto/acl``).
    ``keep_logs`` keeps the temp dir (configs and logs) after stop.
    """

    backend = "native"

    def __init__(
        self,
        *,
        mqtt_users: dict[str, str] | None = None,
        database: str = DEFAULT_INFLUX_DB,
        max_queued_messages: int = 100_000,
        acl_file: Path | None = None,
        start_timeout: float = 30.0,
        keep_logs: bool = False,
    ) -> None:
        super().__init__()
        self.mqtt_users = dict(mqtt_users or {})
        self.database = database
        self.max_queued_messages = max_queued_messages
        self.acl_file = acl_file
        self.start_timeout = start_timeout
        self.keep_logs = keep_logs
        self.root: Path | None = None
        self._mqtt_port = 0
        self._http_port = 0
        self._servers: dict[str, ServerProcess] = {}

    # -- endpoints -----------------------------------------------------------------------
    @property
    def mqtt(self) -> MqttSettings:
        """The broker; with ``mqtt_users`` it logs in as the first user."""
        user = next(iter(self.mqtt_users), None)
        password = self.mqtt_users[user] if user is not None else None
        return MqttSettings("127.0.0.1", self._mqtt_port, user, password)

    @property
    def influx(self) -> InfluxSettings:
        return InfluxSettings("127.0.0.1", self._http_port, database=self.database)

    @property
    def servers(self) -> dict[str, ServerControl]:
        return dict(self._servers)

    # -- lifecycle -----------------------------------------------------------------------
    def _start(self) -> None:
        missing = missing_binaries()
        if missing:
            raise MissingBinaries(f"missing {', '.join(missing)}: {INSTALL_HINT}")
        self.root = Path(tempfile.mkdtemp(prefix="alertloop-stack-"))
        self._servers = {
            "mqtt": self._mosquitto(self.root),
            "influxdb": self._influxd(self.root),
        }
        try:
            for server in self._servers.values():
                server.start()
        except ServerStartError:
            self.keep_logs = True  # the error names the log files: keep them
            raise
        client = self.influx.client()
        try:
            client.create_database(self.database)
        finally:
            client.close()

    def _mosquitto(self, root: Path) -> ServerProcess:
        self._mqtt_port = free_port()
        (root / "mosquitto-data").mkdir()
        if self.mqtt_users:
            passwd = root / "mosquitto.passwd"
            passwd.touch(mode=0o600)
            for user, password in self.mqtt_users.items():
                subprocess.run(
                    [
                        find_binary("mosquitto_passwd") or "mosquitto_passwd",
                        "-b",
                        str(passwd),
                        user,
                        password,
                    ],
                    check=True,
                    capture_output=True,
                )
        if self.acl_file is not None:
            shutil.copyfile(self.acl_file, root / "mosquitto.acl")
        conf = root / "mosquitto.conf"
        conf.write_text(
            _mosquitto_conf(
                root,
                self._mqtt_port,
                self.mqtt_users,
                self.max_queued_messages,
                acl=self.acl_file is not None,
            )
        )
        settings = self.mqtt
        return ServerProcess(
            "mosquitto",
            [find_binary("mosquitto") or "mosquitto", "-c", str(conf)],
            root / "mosquitto.log",
            lambda: mqtt_connect_ok(
                settings.host, settings.port, settings.username, settings.password
            ),
            cwd=root,
            start_timeout=self.start_timeout,
        )

    def _influxd(self, root: Path) -> ServerProcess:
        self._http_port = free_port()
        rpc_port = free_port()
        conf = root / "influxdb.conf"
        conf.write_text(_influxd_conf(root, self._http_port, rpc_port))
        url = f"http://127.0.0.1:{self._http_port}"
        return ServerProcess(
            "influxd",
            [find_binary("influxd") or "influxd", "-config", str(conf)],
            root / "influxd.log",
            lambda: influx_ping_ok(url),
            cwd=root,
            start_timeout=self.start_timeout,
        )

    def _stop(self) -> None:
        for server in self._servers.values():
            server.stop()
        if self.root is not None and not self.keep_logs:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None
