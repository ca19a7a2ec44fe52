"""``alertloop ingest``: flags first, then ``ALERTLOOP_*`` variables, then defaults.

Every flag ``--some-option`` also reads ``ALERTLOOP_INGEST_SOME_OPTION``; the shared ones read
``ALERTLOOP_MQTT_URL``, ``ALERTLOOP_INFLUX_URL`` and ``ALERTLOOP_INFLUX_DB``. ``--topic`` may be
given several times (``ALERTLOOP_INGEST_TOPICS`` takes a comma-separated list). SIGTERM and
SIGINT stop it cleanly: stop consuming, store and acknowledge what was taken, exit 0. It exits
2 when it cannot start and 1 when it failed while running; error messages never show a password.
"""

from __future__ import annotations

import argparse
import logging
import re
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import fields
from pathlib import Path
from urllib.parse import unquote, urlsplit

from alertloop.services.common.config import (
    DEFAULT_INFLUX_URL,
    DEFAULT_MQTT_URL,
    ENV_INFLUX_DB,
    ENV_INFLUX_URL,
    ENV_MQTT_PASSWORD,
    ENV_MQTT_PASSWORD_FILE,
    ENV_MQTT_URL,
    InfluxSettings,
    add_mqtt_tls_arguments,
    mqtt_settings_from_args,
    setting,
)
from alertloop.services.common.errors import ConfigError
from alertloop.services.common.logs import configure_logging
from alertloop.services.ingester.config import IngesterConfig
from alertloop.services.ingester.errors import IngesterError
from alertloop.services.ingester.service import Ingester

__all__ = ["build_parser", "config_from_args", "main", "redact"]

log = logging.getLogger("alertloop.ingester")


def _flag(value: str) -> bool:
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"expected a yes/no value, got {value!r}")


_TYPES: dict[str, Callable[[str], object]] = {
    "int": int,
    "float": float,
    "str": str,
    "bool": _flag,
    "Path": Path,
}
_HELP = {
    "client_id": "fixed MQTT client id (the persistent session is kept under it)",
    "qos": "subscription QoS: 1 (at least once) or 0",
    "receive_maximum": "most unacknowledged messages the broker may send at once",
    "session_expiry": "seconds the broker keeps the session while disconnected",
    "share_group": "subscribe through $share/<group>/<filter> so several instances split the stream",
    "measurement": "InfluxDB measurement",
    "field": "integer field name",
    "topic_tag": "also store the whole topic in this tag",
    "instance_tag": "store the client id in this tag (default 'ingester' with --share-group)",
    "min_value": "smallest accepted value",
    "max_value": "largest accepted value",
    "max_payload_bytes": "longer payloads are dead-lettered",
    "batch_size": "most points per InfluxDB write",
    "flush_interval": "longest a point waits before a write is attempted (s)",
    "http_timeout": "InfluxDB request timeout (s)",
    "retry_initial": "first retry delay after a failed write (s)",
    "retry_max": "largest retry delay (s)",
    "gzip": "gzip request bodies",
    "spool_dir": "spool directory (default $XDG_STATE_HOME/alertloop/ingester/<client id>)",
    "spool_max_bytes": "spool size bound; when full, messages are no longer acknowledged",
    "spool_segment_bytes": "spool segment file size",
    "spool_fsync_interval": "fsync the spool this often (s); 0 = before every acknowledgement",
    "dead_letter_file": "dead-letter JSONL file (default <spool dir>/dead-letter.jsonl)",
    "dead_letter_topic": "also publish dead letters to this MQTT topic",
    "dead_letter_max_bytes": "rotate the dead-letter file at this size",
    "metrics_bind": "serve /metrics and /healthz on host:port",
    "queue_size": "messages waiting for the pipeline before reading pauses (>= receive maximum)",
    "keepalive": "MQTT keepalive (s)",
    "reconnect_min": "first reconnect delay (s)",
    "reconnect_max": "largest reconnect delay (s)",
    "stop_timeout": "on stop, keep writing the spool to InfluxDB this long (s)",
}


def _env_name(dest: str) -> str:
    return f"ALERTLOOP_INGEST_{dest.upper()}"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; every default is None so the environment can fill in."""
    parser = argparse.ArgumentParser(
        prog="alertloop ingest", description="Store MQTT sensor readings in InfluxDB."
    )
    parser.add_argument(
        "--mqtt-url",
        help=f"broker URL, mqtt[s]://user@host:port [{ENV_MQTT_URL}]; a password in it is "
        "visible to every user in the process list: use --mqtt-password-file instead",
    )
    parser.add_argument(
        "--mqtt-password-file",
        metavar="FILE",
        help=f"file whose first line is the broker password [{ENV_MQTT_PASSWORD_FILE}, or the "
        f"password itself in {ENV_MQTT_PASSWORD}]",
    )
    parser.add_argument("--influx-url", help=f"InfluxDB URL [{ENV_INFLUX_URL}]")
    parser.add_argument("--database", help=f"database, created when missing [{ENV_INFLUX_DB}]")
    parser.add_argument(
        "--topic",
        action="append",
        dest="topics",
        help="topic filter, may repeat; {name} segments become tags, e.g. sensors/{device}/pot "
        f"[{_env_name('topics')}, comma-separated]",
    )
    for spec in fields(IngesterConfig):
        if spec.name in _HELP:
            kind = str(spec.type).replace(" | None", "")
            text = f"{_HELP[spec.name]} [{_env_name(spec.name)}; default {spec.default}]"
            flag = "--" + spec.name.replace("_", "-")
            if kind == "bool":
                parser.add_argument(flag, action="store_const", const="1", help=text)
            else:
                parser.add_argument(flag, metavar=kind.upper(), help=text)
    add_mqtt_tls_arguments(parser)
    parser.add_argument("--log-level", help="[ALERTLOOP_LOG_LEVEL; default INFO]")
    parser.add_argument("--log-format", choices=["json", "text"], help="[ALERTLOOP_LOG_FORMAT]")
    return parser


def config_from_args(args: argparse.Namespace) -> IngesterConfig:
    """Build the configuration from parsed flags and the environment. Raises ConfigError."""
    mqtt_url = setting(args.mqtt_url, ENV_MQTT_URL, DEFAULT_MQTT_URL)
    influx_url = setting(args.influx_url, ENV_INFLUX_URL, DEFAULT_INFLUX_URL)
    database = setting(args.database, ENV_INFLUX_DB, None)
    assert mqtt_url is not None and influx_url is not None
    kwargs: dict[str, object] = {
        "mqtt": mqtt_settings_from_args(mqtt_url, args),
        "influx": InfluxSettings.from_url(influx_url, database=database or None),
    }
    topics = args.topics or [
        t.strip() for t in (setting(None, _env_name("topics"), "") or "").split(",") if t.strip()
    ]
    if topics:
        kwargs["topics"] = topics
    for spec in fields(IngesterConfig):
        if spec.name not in _HELP:
            continue
        raw = setting(getattr(args, spec.name), _env_name(spec.name), None)
        if raw is None:
            continue
        convert = _TYPES[str(spec.type).replace(" | None", "")]
        try:
            kwargs[spec.name] = convert(raw)
        except ValueError as exc:
            raise ConfigError(f"--{spec.name.replace('_', '-')}: {exc}") from exc
    return IngesterConfig(**kwargs)  # type: ignore[arg-type]


def redact(text: str, urls: Sequence[str | None]) -> str:
    """``text`` without the passwords of ``urls`` (as given and percent-decoded), and with the
    password of any ``scheme://user:password@`` in it replaced by ``***``."""
    for url in urls:
        try:
            password = urlsplit(url).password if url else None
        except ValueError:
            password = None
        for secret in {password, unquote(password)} if password else ():
            text = text.replace(secret, "***")
    return _USERINFO.sub(r"\1***@", text)


_USERINFO = re.compile(r"([a-z][a-z0-9+.-]*://[^\s:/@]*:)[^\s/@]+@", re.IGNORECASE)


def main(argv: Sequence[str]) -> int:
    """Run until SIGTERM/SIGINT. Returns 0 after a clean stop, 2 when it cannot start (a
    configuration error, another ingester holding the spool or client id), 1 when it failed
    while running (see ``Ingester.failure``)."""
    args = build_parser().parse_args(list(argv))
    configure_logging(
        setting(args.log_level, "ALERTLOOP_LOG_LEVEL", "INFO") or "INFO",
        setting(args.log_format, "ALERTLOOP_LOG_FORMAT", "json") or "json",
    )
    urls = [setting(args.mqtt_url, ENV_MQTT_URL), setting(args.influx_url, ENV_INFLUX_URL)]
    try:
        cfg = config_from_args(args)
        ingester = Ingester(cfg)
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        ingester.start()
    except (ConfigError, IngesterError, OSError) as exc:
        print(f"alertloop ingest: {redact(str(exc), urls)}", file=sys.stderr)
        return 2
    if ingester.metrics_url:
        log.info("serving /metrics and /healthz", extra={"url": ingester.metrics_url})
    while not (stop.wait(0.5) or ingester.failed.is_set()):
        pass
    log.info("stopping")
    ingester.stop()
    if ingester.failure:
        print(f"alertloop ingest: {redact(ingester.failure, urls)}", file=sys.stderr)
        return 1
    return 0
