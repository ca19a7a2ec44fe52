"""Configuration shared by every component: MQTT and InfluxDB settings and their options.

Precedence everywhere: command-line flag, then ``ALERTLOOP_*`` environment variable, then default
(the option model is ``alertloop.services.common.settings``; the shared options are declared
here once: ``MQTT_OPTIONS``, ``INFLUX_OPTIONS``, ``LOG_OPTIONS``).

Secrets are never printed: error messages show URLs with the password replaced by ``***``
(``redact_urls``), the settings' ``repr`` hides passwords, and the MQTT and InfluxDB passwords
can come from a file or the environment instead of the URL on the command line.
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, fields, replace
from urllib.parse import quote, unquote, urlsplit

from alertloop.services.common.commands import Command
from alertloop.services.common.errors import ConfigError
from alertloop.services.common.settings import Option, Values

ENV_MQTT_URL = "ALERTLOOP_MQTT_URL"
ENV_INFLUX_URL = "ALERTLOOP_INFLUX_URL"
ENV_INFLUX_DB = "ALERTLOOP_INFLUX_DB"
DEFAULT_MQTT_URL = "mqtt://127.0.0.1:1883"
DEFAULT_INFLUX_URL = "http://127.0.0.1:8086"
DEFAULT_INFLUX_DB = "iot"
ENV_MQTT_PASSWORD = "ALERTLOOP_MQTT_PASSWORD"
ENV_MQTT_PASSWORD_FILE = "ALERTLOOP_MQTT_PASSWORD_FILE"
ENV_INFLUX_PASSWORD = "ALERTLOOP_INFLUX_PASSWORD"
ENV_INFLUX_PASSWORD_FILE = "ALERTLOOP_INFLUX_PASSWORD_FILE"
ENV_LOG_LEVEL = "ALERTLOOP_LOG_LEVEL"
ENV_LOG_FORMAT = "ALERTLOOP_LOG_FORMAT"
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


# -- the shared options, declared once --------------------------------------------------------
_TLS = "MQTT over TLS (mqtts:// URLs)"
MQTT_URL = Option(
    "--mqtt-url",
    "broker URL, mqtt[s]://user@host:port; a password in it is visible to every user in the "
    "process list: use --mqtt-password-file instead",
    env=ENV_MQTT_URL,
    default=DEFAULT_MQTT_URL,
    metavar="URL",
)
MQTT_PASSWORD = Option(
    None,
    "file whose first line is the broker password",
    env=ENV_MQTT_PASSWORD,
    secret=True,
    file_flag="--mqtt-password-file",
    dest="mqtt_password",
)
MQTT_TLS_OPTIONS = (
    Option("--mqtt-ca-file", "PEM file of the CAs to trust", env=ENV_MQTT_CA_FILE, group=_TLS,
           metavar="FILE", default_text="the system's CAs"),
    Option("--mqtt-cert-file", "client certificate (PEM)", env=ENV_MQTT_CERT_FILE, group=_TLS,
           metavar="FILE"),
    Option("--mqtt-key-file", "client key (PEM)", env=ENV_MQTT_KEY_FILE, group=_TLS,
           metavar="FILE", default_text="in the certificate file"),
    Option("--mqtt-server-name", "name to expect in the broker's certificate, sent as SNI",
           env=ENV_MQTT_SERVER_NAME, group=_TLS, metavar="NAME", default_text="the URL's host"),
    Option("--mqtt-tls-insecure", "do not check the broker's certificate or name (tests only)",
           env=ENV_MQTT_TLS_INSECURE, group=_TLS, boolean=True, default=False),
)  # fmt: skip
MQTT_OPTIONS = (MQTT_URL, MQTT_PASSWORD, *MQTT_TLS_OPTIONS)
INFLUX_URL = Option(
    "--influx-url",
    "InfluxDB URL, http[s]://[user@]host:port[/database]; use --influx-password-file for "
    "the password",
    env=ENV_INFLUX_URL,
    default=DEFAULT_INFLUX_URL,
    metavar="URL",
)
INFLUX_DB = Option(
    "--influx-db",
    "database",
    env=ENV_INFLUX_DB,
    metavar="NAME",
    default_text=f"the URL's path, else {DEFAULT_INFLUX_DB}",
)
INFLUX_PASSWORD = Option(
    None,
    "file whose first line is the InfluxDB password; the user name goes in the URL",
    env=ENV_INFLUX_PASSWORD,
    secret=True,
    file_flag="--influx-password-file",
    dest="influx_password",
)
INFLUX_OPTIONS = (INFLUX_URL, INFLUX_DB, INFLUX_PASSWORD)
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_LEVEL = Option(
    "--log-level", "log level", env=ENV_LOG_LEVEL, type=str.upper, choices=LOG_LEVELS,
    default="INFO", metavar="LEVEL",
)  # fmt: skip
LOG_FORMAT = Option(
    "--log-format", "log format", env=ENV_LOG_FORMAT, choices=("json", "text"), default="json"
)
LOG_OPTIONS = (LOG_LEVEL, LOG_FORMAT)


def _with_password(
    settings: MqttSettings | InfluxSettings, values: Values, name: str, what: str, url_name: str
) -> MqttSettings | InfluxSettings:
    password = values.get(name)
    if password is None:
        return settings
    source = values.source(name)
    if settings.password is not None:
        raise ConfigError(
            f"{source}: {what} password given twice, in the URL ({values.source(url_name)}) and "
            "here: give it once (keep it out of the URL, which other users can see in the "
            "process list)"
        )
    if not settings.username:
        raise ConfigError(
            f"{source}: {what} password but no user name: give one in the URL "
            f"({values.source(url_name)}), scheme://USER@host:port"
        )
    return dataclasses.replace(settings, password=password)


def mqtt_from(values: Values) -> MqttSettings:
    """The broker's settings from the resolved ``MQTT_OPTIONS`` (URL, password kept off the
    command line, TLS options). Raises ConfigError naming the flag or variable at fault."""
    try:
        settings = MqttSettings.from_url(values["mqtt_url"])
    except ConfigError as exc:
        raise values.error("mqtt_url", str(exc)) from None
    try:
        tls = MqttTls(
            ca_file=values.get("mqtt_ca_file"),
            cert_file=values.get("mqtt_cert_file"),
            key_file=values.get("mqtt_key_file"),
            server_name=values.get("mqtt_server_name"),
            insecure=bool(values.get("mqtt_tls_insecure")),
        )
        settings = settings.with_tls(tls)
    except ConfigError as exc:
        raise values.error("mqtt_url", str(exc)) from None
    result = _with_password(settings, values, "mqtt_password", "MQTT", "mqtt_url")
    assert isinstance(result, MqttSettings)
    return result


def influx_from(values: Values) -> InfluxSettings:
    """The InfluxDB settings from the resolved ``INFLUX_OPTIONS``: the database from
    ``--influx-db``, else the URL's path, else ``iot``. Raises ConfigError naming the source."""
    try:
        settings = InfluxSettings.from_url(values["influx_url"], database=values.get("influx_db"))
    except ConfigError as exc:
        raise values.error("influx_url", str(exc)) from None
    result = _with_password(settings, values, "influx_password", "InfluxDB", "influx_url")
    assert isinstance(result, InfluxSettings)
    return result


def mqtt_settings(url: str | None = None, password_file: str | None = None) -> MqttSettings:
    """The broker's settings as every command reads them: ``url`` (else ``ALERTLOOP_MQTT_URL``,
    else the default), the password from ``password_file`` (else ``ALERTLOOP_MQTT_PASSWORD_FILE``,
    else ``ALERTLOOP_MQTT_PASSWORD``) and the ``ALERTLOOP_MQTT_*`` TLS variables.

    Raises ConfigError for a bad URL, an unreadable password file, or a password given both in
    the URL and apart from it.
    """
    argv = ["--mqtt-url", url] if url else []
    argv += ["--mqtt-password-file", password_file] if password_file else []
    return mqtt_from(Command("alertloop", "", MQTT_OPTIONS).parse(argv))
