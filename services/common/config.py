"""Configuration shared by every component: MQTT and InfluxDB URLs, and flag/env/default lookup.

Precedence everywhere: command-line flag, then ``ALERTLOOP_*`` environment variable, then default.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit

from services.common.errors import ConfigError

ENV_MQTT_URL = "ALERTLOOP_MQTT_URL"
ENV_INFLUX_URL = "ALERTLOOP_INFLUX_URL"
ENV_INFLUX_DB = "ALERTLOOP_INFLUX_DB"
DEFAULT_MQTT_URL = "mqtt://127.0.0.1:1883"
DEFAULT_INFLUX_URL = "http://127.0.0.1:8086"
DEFAULT_INFLUX_DB = "iot"


def setting(flag_value: str | None, env_name: str, default: str | None = None) -> str | None:
    """Return the flag's value if given, else the environment variable's, else ``default``."""
    if flag_value is not None and flag_value != "":
        return flag_value
    env_value = os.environ.get(env_name)
    if env_value:
        return env_value
    return default


@dataclass(frozen=True)
class MqttSettings:
    """Where an MQTT broker is and how to log in to it."""

    host: str
    port: int = 1883
    username: str | None = None
    password: str | None = None
    tls: bool = False

    @classmethod
    def from_url(cls, url: str) -> MqttSettings:
        """Parse ``mqtt://[user[:password]@]host[:port]`` or ``mqtts://...`` (TLS)."""
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts", "tcp", "ssl"):
            raise ConfigError(f"MQTT URL {url!r}: scheme must be mqtt:// or mqtts://")
        if not parts.hostname:
            raise ConfigError(f"MQTT URL {url!r} has no host")
        tls = parts.scheme in ("mqtts", "ssl")
        try:
            port = parts.port or (8883 if tls else 1883)
        except ValueError as exc:
            raise ConfigError(f"MQTT URL {url!r}: bad port") from exc
        return cls(
            host=parts.hostname,
            port=port,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            tls=tls,
        )

    @property
    def url(self) -> str:
        """The URL with credentials, usable as ``ALERTLOOP_MQTT_URL``."""
        auth = ""
        if self.username:
            auth = quote(self.username, safe="")
            if self.password:
                auth += ":" + quote(self.password, safe="")
            auth += "@"
        return f"{'mqtts' if self.tls else 'mqtt'}://{auth}{self.host}:{self.port}"

    @property
    def safe_url(self) -> str:
        """The URL without the password, for logs."""
        user = f"{self.username}@" if self.username else ""
        return f"{'mqtts' if self.tls else 'mqtt'}://{user}{self.host}:{self.port}"


@dataclass(frozen=True)
class InfluxSettings:
    """Where an InfluxDB 1.x server is, how to log in, and which database to use."""

    host: str
    port: int = 8086
    database: str = DEFAULT_INFLUX_DB
    username: str | None = None
    password: str | None = None
    ssl: bool = False

    @classmethod
    def from_url(cls, url: str, database: str | None = None) -> InfluxSettings:
        """Parse ``http[s]://[user:password@]host[:port][/database]``."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise ConfigError(f"InfluxDB URL {url!r}: scheme must be http:// or https://")
        if not parts.hostname:
            raise ConfigError(f"InfluxDB URL {url!r} has no host")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 8086)
        except ValueError as exc:
            raise ConfigError(f"InfluxDB URL {url!r}: bad port") from exc
        path_db = parts.path.strip("/") or None
        return cls(
            host=parts.hostname,
            port=port,
            database=database or path_db or DEFAULT_INFLUX_DB,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            ssl=parts.scheme == "https",
        )

    @property
    def url(self) -> str:
        """The base URL (no database, no credentials), for example ``http://127.0.0.1:8086``."""
        return f"{'https' if self.ssl else 'http'}://{self.host}:{self.port}"

    def client(self, timeout: float = 5.0, database: str | None = None):  # type: ignore[no-untyped-def]
        """An ``influxdb.InfluxDBClient`` for this server, with a timeout."""
        from influxdb import InfluxDBClient

        return InfluxDBClient(
            host=self.host,
            port=self.port,
            username=self.username or "root",
            password=self.password or "root",
            database=database or self.database,
            ssl=self.ssl,
            verify_ssl=self.ssl,
            timeout=timeout,
            retries=1,
        )
