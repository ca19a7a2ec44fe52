"""Configuration shared by every component: MQTT and InfluxDB URLs, and flag/env/default lookup.

Precedence everywhere: command-line flag, then ``ALERTLOOP_*`` environment variable, then default.

Secrets are never printed: error messages show URLs with the password replaced by ``***``
(``redact_urls``), the settings' ``repr`` hides passwords, and the MQTT password can come from
a file or the environment instead of the URL on the command line (``mqtt_settings``).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
from dataclasses import dataclass, fields, replace
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from alertloop.services.common.errors import ConfigError

ENV_MQTT_URL = "ALERTLOOP_MQTT_URL"
ENV_INFLUX_URL = "ALERTLOOP_INFLUX_URL"
ENV_INFLUX_DB = "ALERTLOOP_INFLUX_DB"
DEFAULT_MQTT_URL = "mqtt://127.0.0.1:1883"
DEFAULT_INFLUX_URL = "http://127.0.0.1:8086"
DEFAULT_INFLUX_DB = "iot"
ENV_MQTT_PASSWORD = "ALERTLOOP_MQTT_PASSWORD"
ENV_MQTT_PASSWORD_FILE = "ALERTLOOP_MQTT_PASSWORD_FILE"
REDACTED = "***"
_SECRET_FIELDS = frozenset({"password"})
# scheme://user:password@ anywhere in a text; the password part is replaced.
_URL_PASSWORD = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://[^\s/?#@:]*:)[^\s/]*@")


def redact_urls(text: str) -> str:
    """``text`` with the password of every ``scheme://user:password@host`` URL replaced by
    ``***``; cheap when there is no ``@``."""
    return _URL_PASSWORD.sub(rf"\g<1>{REDACTED}@", text) if "@" in text else text


def redacted_repr(obj: object, **shown_as: object) -> str:
    """A dataclass's ``repr`` with its secret fields (``password``) shown as ``***``, and the
    fields named in ``shown_as`` shown as the value given there."""
    parts = []
    for f in fields(obj):  # type: ignore[arg-type]
        if not f.repr:
            continue
        value = getattr(obj, f.name)
        if f.name in shown_as:
            shown = repr(shown_as[f.name])
        else:
            shown = REDACTED if f.name in _SECRET_FIELDS and value else repr(value)
        parts.append(f"{f.name}={shown}")
    return f"{type(obj).__name__}({', '.join(parts)})"


def setting(flag_value: str | None, env_name: str, default: str | None = None) -> str | None:
    """Return the flag's value if given, else the environment variable's, else ``default``."""
    if flag_value is not None and flag_value != "":
        return flag_value
    env_value = os.environ.get(env_name)
    if env_value:
        return env_value
    return default


# -- MQTT over TLS: the options of an mqtts:// connection -------------------------------------
ENV_MQTT_CA_FILE = "ALERTLOOP_MQTT_CA_FILE"
ENV_MQTT_CERT_FILE = "ALERTLOOP_MQTT_CERT_FILE"
ENV_MQTT_KEY_FILE = "ALERTLOOP_MQTT_KEY_FILE"
ENV_MQTT_SERVER_NAME = "ALERTLOOP_MQTT_SERVER_NAME"
ENV_MQTT_TLS_INSECURE = "ALERTLOOP_MQTT_TLS_INSECURE"


@dataclass(frozen=True)
class MqttTls:
    """How an ``mqtts://`` connection checks the broker and proves who the client is.

    ``ca_file``: PEM file of the CAs to trust (default: the system's CAs). ``cert_file`` and
    ``key_file``: the client certificate and its key (the key may be in ``cert_file``).
    ``server_name``: the name sent as SNI and checked against the broker's certificate
    (default: the URL's host). ``insecure``: no certificate or host name check at all (for
    tests; it must be asked for explicitly). Raises ConfigError for contradictory options.
    """

    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    server_name: str | None = None
    insecure: bool = False

    def __post_init__(self) -> None:
        if self.key_file and not self.cert_file:
            raise ConfigError("an MQTT client key needs its certificate (--mqtt-cert-file)")

    @property
    def given(self) -> bool:
        """True when any option differs from the default."""
        return self != MqttTls()


def add_mqtt_tls_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--mqtt-ca-file``, ``--mqtt-cert-file``, ``--mqtt-key-file``, ``--mqtt-server-name``
    and ``--mqtt-tls-insecure`` (each also read from its ``ALERTLOOP_MQTT_*`` variable)."""
    group = parser.add_argument_group("MQTT over TLS (mqtts:// URLs)")
    group.add_argument("--mqtt-ca-file", help=f"PEM file of the CAs to trust [{ENV_MQTT_CA_FILE}]")
    group.add_argument("--mqtt-cert-file", help=f"client certificate (PEM) [{ENV_MQTT_CERT_FILE}]")
    group.add_argument("--mqtt-key-file", help=f"client key (PEM) [{ENV_MQTT_KEY_FILE}]")
    group.add_argument(
        "--mqtt-server-name",
        help=f"name to expect in the broker's certificate, sent as SNI [{ENV_MQTT_SERVER_NAME}]",
    )
    group.add_argument(
        "--mqtt-tls-insecure",
        action="store_true",
        default=None,
        help=f"do not check the broker's certificate or name (tests only) [{ENV_MQTT_TLS_INSECURE}=1]",
    )


def mqtt_settings_from_args(url: str, args: argparse.Namespace) -> MqttSettings:
    """``MqttSettings`` for ``url`` with the password kept off the command line and the TLS
    options of ``args`` (flags, then variables): see :func:`mqtt_settings`.

    Raises ConfigError for a bad URL, a password given twice, or TLS options with a plain
    ``mqtt://`` URL.
    """
    insecure = getattr(args, "mqtt_tls_insecure", None)
    if insecure is None:
        insecure = os.environ.get(ENV_MQTT_TLS_INSECURE, "").lower() in ("1", "true", "yes", "on")
    tls = MqttTls(
        ca_file=setting(getattr(args, "mqtt_ca_file", None), ENV_MQTT_CA_FILE),
        cert_file=setting(getattr(args, "mqtt_cert_file", None), ENV_MQTT_CERT_FILE),
        key_file=setting(getattr(args, "mqtt_key_file", None), ENV_MQTT_KEY_FILE),
        server_name=setting(getattr(args, "mqtt_server_name", None), ENV_MQTT_SERVER_NAME),
        insecure=bool(insecure),
    )
    return mqtt_settings(url, getattr(args, "mqtt_password_file", None)).with_tls(tls)


@dataclass(frozen=True)
class MqttSettings:
    """Where an MQTT broker is and how to log in to it."""

    host: str
    port: int = 1883
    username: str | None = None
    password: str | None = None
    tls: bool = False
    tls_options: MqttTls = MqttTls()

    def __repr__(self) -> str:
        return redacted_repr(self)

    @classmethod
    def from_url(cls, url: str) -> MqttSettings:
        """Parse ``mqtt://[user[:password]@]host[:port]`` or ``mqtts://...`` (TLS)."""
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts", "tcp", "ssl"):
            raise ConfigError(f"MQTT URL {redact_urls(url)!r}: scheme must be mqtt:// or mqtts://")
        if not parts.hostname:
            raise ConfigError(f"MQTT URL {redact_urls(url)!r} has no host")
        tls = parts.scheme in ("mqtts", "ssl")
        try:
            port = parts.port or (8883 if tls else 1883)
        except ValueError as exc:
            raise ConfigError(f"MQTT URL {redact_urls(url)!r}: bad port") from exc
        return cls(
            host=parts.hostname,
            port=port,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            tls=tls,
        )

    def with_tls(self, tls: MqttTls) -> MqttSettings:
        """A copy with these TLS options. Raises ConfigError when they are given for ``mqtt://``."""
        if tls.given and not self.tls:
            raise ConfigError("MQTT TLS options need an mqtts:// URL")
        return replace(self, tls_options=tls)

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

    def __repr__(self) -> str:
        return redacted_repr(self)

    @classmethod
    def from_url(cls, url: str, database: str | None = None) -> InfluxSettings:
        """Parse ``http[s]://[user:password@]host[:port][/database]``."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise ConfigError(
                f"InfluxDB URL {redact_urls(url)!r}: scheme must be http:// or https://"
            )
        if not parts.hostname:
            raise ConfigError(f"InfluxDB URL {redact_urls(url)!r} has no host")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 8086)
        except ValueError as exc:
            raise ConfigError(f"InfluxDB URL {redact_urls(url)!r}: bad port") from exc
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


def read_secret_file(path: str | Path, what: str) -> str:
    """The first line of a secret file (trailing newline removed).

    Raises ConfigError naming the file, never its contents, when it cannot be read or is empty.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise ConfigError(f"{what} file {path}: {reason}") from None
    secret = text.splitlines()[0] if text else ""
    if not secret:
        raise ConfigError(f"{what} file {path} is empty")
    return secret


def mqtt_settings(url: str | None = None, password_file: str | None = None) -> MqttSettings:
    """The broker's settings from a URL flag (else ``ALERTLOOP_MQTT_URL``, else the default) and
    a password kept off the command line: ``password_file`` (a ``--mqtt-password-file`` flag),
    else ``ALERTLOOP_MQTT_PASSWORD_FILE``, else ``ALERTLOOP_MQTT_PASSWORD``.

    Raises ConfigError for a bad URL, an unreadable password file, or a password given both in
    the URL and apart from it.
    """
    settings = MqttSettings.from_url(setting(url, ENV_MQTT_URL, DEFAULT_MQTT_URL) or "")
    source = password_file and "--mqtt-password-file"
    path = password_file or os.environ.get(ENV_MQTT_PASSWORD_FILE)
    if path:
        source = source or ENV_MQTT_PASSWORD_FILE
        password: str | None = read_secret_file(path, "MQTT password")
    else:
        password = os.environ.get(ENV_MQTT_PASSWORD) or None
        source = ENV_MQTT_PASSWORD
    if password is None:
        return settings
    if settings.password is not None:
        raise ConfigError(
            f"MQTT password given twice, in the URL and in {source}: give it once "
            "(keep it out of the URL, which other users can see in the process list)"
        )
    if not settings.username:
        raise ConfigError(
            f"MQTT password in {source} but no user name: give one in the URL, "
            "mqtt://USER@host:port"
        )
    return dataclasses.replace(settings, password=password)
