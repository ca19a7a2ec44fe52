"""The ingester's configuration: one validated, immutable description of what to run."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from alertloop.services.common.config import InfluxSettings, MqttSettings
from alertloop.services.common.errors import ConfigError
from alertloop.services.ingester.errors import EncodeError
from alertloop.services.ingester.lineprotocol import LineEncoder, check_name
from alertloop.services.ingester.topics import TopicTemplate, parse_template

__all__ = ["IngesterConfig", "client_lock_path", "default_spool_dir", "redacted_url"]

MiB = 1024 * 1024


def _state_home() -> Path:
    return Path(
        os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    )


def default_spool_dir(client_id: str) -> Path:
    """``$XDG_STATE_HOME/alertloop/ingester/<client id>`` (``~/.local/state`` when unset)."""
    return _state_home() / "alertloop" / "ingester" / client_id


def client_lock_path(mqtt: MqttSettings, client_id: str) -> Path:
    """The lock file that makes ``client_id`` at this broker one process's on this host:
    ``$XDG_STATE_HOME/alertloop/ingester-clients/<host>-<port>-<client id>.lock``."""
    name = f"{quote(mqtt.host, safe='')}-{mqtt.port}-{quote(client_id, safe='')}.lock"
    return _state_home() / "alertloop" / "ingester-clients" / name


def redacted_url(url: str) -> str:
    """``url`` with the password (if any) replaced by ``***``; unparsable input comes back
    with everything between ``://`` and the last ``@`` replaced."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user, colon, _password = userinfo.partition(":")
    netloc = f"{user}:***@{hostport}" if colon else f"{user}@{hostport}"
    return urlunsplit(parts._replace(netloc=netloc))


@dataclass(frozen=True, repr=False)
class IngesterConfig:
    """Everything the ingester needs; ``__post_init__`` raises ConfigError for unusable values.

    Delivery: MQTT 5, ``qos`` 1 with a fixed ``client_id`` and a persistent session
    (``clean_start`` false, kept ``session_expiry`` seconds by the broker). The broker sends up
    to ``receive_maximum`` unacknowledged messages, so acknowledgements can be batched. A message is
    acknowledged once its point is in the spool (flushed to the operating system; fsynced every
    ``spool_fsync_interval`` seconds, or before every acknowledgement when that is 0) or in the
    dead-letter store.
    """

    mqtt: MqttSettings
    influx: InfluxSettings
    topics: list[str] = field(default_factory=lambda: ["/pot"])
    client_id: str = "alertloop-ingester"
    qos: int = 1
    receive_maximum: int = 2000
    session_expiry: int = 7 * 24 * 3600
    share_group: str | None = None
    measurement: str = "pot"
    field: str = "value"
    topic_tag: str | None = None
    instance_tag: str | None = None
    min_value: int = 0
    max_value: int = 100
    max_payload_bytes: int = 256
    batch_size: int = 5000
    flush_interval: float = 1.0
    http_timeout: float = 5.0
    retry_initial: float = 0.5
    retry_max: float = 30.0
    gzip: bool = False
    spool_dir: Path | None = None
    spool_max_bytes: int = 256 * MiB
    spool_segment_bytes: int = 8 * MiB
    spool_fsync_interval: float = 1.0
    dead_letter_file: Path | None = None
    dead_letter_topic: str | None = None
    dead_letter_max_bytes: int = 64 * MiB
    metrics_bind: str | None = None
    queue_size: int = 10_000
    keepalive: int = 30
    reconnect_min: float = 1.0
    reconnect_max: float = 30.0
    stop_timeout: float = 10.0

    def __post_init__(self) -> None:
        if self.qos not in (0, 1):
            raise ConfigError(f"qos must be 0 or 1, not {self.qos}")
        if not 1 <= self.receive_maximum <= 65535:
            raise ConfigError(f"receive_maximum must be 1..65535, not {self.receive_maximum}")
        if self.queue_size < self.receive_maximum:
            raise ConfigError("queue_size must not be below receive_maximum")
        if not self.client_id:
            raise ConfigError("client_id must not be empty (a persistent session needs a fixed id)")
        if self.min_value > self.max_value:
            raise ConfigError(f"min_value {self.min_value} > max_value {self.max_value}")
        positive = {
            "max_payload_bytes": self.max_payload_bytes,
            "batch_size": self.batch_size,
            "flush_interval": self.flush_interval,
            "http_timeout": self.http_timeout,
            "retry_initial": self.retry_initial,
            "spool_max_bytes": self.spool_max_bytes,
            "spool_segment_bytes": self.spool_segment_bytes,
            "dead_letter_max_bytes": self.dead_letter_max_bytes,
            "queue_size": self.queue_size,
            "keepalive": self.keepalive,
            "reconnect_min": self.reconnect_min,
        }
        for name, value in positive.items():
            if value <= 0:
                raise ConfigError(f"{name} must be positive, not {value}")
        if self.retry_max < self.retry_initial or self.reconnect_max < self.reconnect_min:
            raise ConfigError("retry_max/reconnect_max must not be below their initial values")
        if self.spool_fsync_interval < 0 or self.stop_timeout < 0:
            raise ConfigError("spool_fsync_interval and stop_timeout must not be negative")
        try:
            LineEncoder(self.measurement, self.field)
            for tag in (self.topic_tag, self.instance_tag):
                if tag:
                    check_name(tag, "tag name")
            if self.effective_instance_tag:
                check_name(self.client_id, "client id (the instance tag's value)")
        except EncodeError as exc:
            raise ConfigError(str(exc)) from exc
        templates = self.templates  # raises ConfigError for malformed topics
        if not templates:
            raise ConfigError("at least one topic is needed")

    def __repr__(self) -> str:
        """Every field, with the broker and InfluxDB as URLs whose passwords are ``***``."""
        shown = [f"mqtt={self.safe_mqtt_url!r}", f"influx={self.safe_influx_url!r}"]
        shown += [
            f"{spec.name}={getattr(self, spec.name)!r}"
            for spec in fields(self)
            if spec.name not in ("mqtt", "influx")
        ]
        return f"IngesterConfig({', '.join(shown)})"

    @property
    def safe_mqtt_url(self) -> str:
        """The broker URL for logs and messages: user name kept, password ``***``."""
        return redacted_url(self.mqtt.url)

    @property
    def safe_influx_url(self) -> str:
        """The InfluxDB URL with user and database for logs and messages, password ``***``."""
        user = ""
        if self.influx.username:
            user = quote(self.influx.username, safe="")
            user += ":***@" if self.influx.password else "@"
        scheme, _, hostport = self.influx.url.partition("://")
        return f"{scheme}://{user}{hostport}/{self.influx.database}"

    @property
    def templates(self) -> list[TopicTemplate]:
        """The parsed topic templates. Raises ConfigError for a malformed one."""
        return [parse_template(text, self.share_group) for text in self.topics]

    @property
    def effective_instance_tag(self) -> str | None:
        """The tag that holds this instance's client id: ``instance_tag``, or ``ingester`` when
        a shared subscription is used (several instances then write the same series, and only
        a tag keeps their receive-time stamps from colliding)."""
        if self.instance_tag:
            return self.instance_tag
        shared = self.share_group or any(t.startswith("$share/") for t in self.topics)
        return "ingester" if shared else None

    @property
    def spool_path(self) -> Path:
        """Where the spool lives: ``spool_dir`` or :func:`default_spool_dir`."""
        return Path(self.spool_dir) if self.spool_dir else default_spool_dir(self.client_id)

    @property
    def dead_letter_path(self) -> Path | None:
        """The dead-letter JSONL file: ``dead_letter_file``, or ``dead-letter.jsonl`` in the spool
        directory unless only an MQTT dead-letter topic is configured."""
        if self.dead_letter_file:
            return Path(self.dead_letter_file)
        if self.dead_letter_topic:
            return None
        return self.spool_path / "dead-letter.jsonl"
