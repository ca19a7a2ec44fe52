"""``alertloop ingest``: flags first, then ``ALERTLOOP_*`` variables, then defaults.

Every flag ``--some-option`` also reads ``ALERTLOOP_INGEST_SOME_OPTION``; the shared ones read
``ALERTLOOP_MQTT_*``, ``ALERTLOOP_INFLUX_*`` and ``ALERTLOOP_LOG_*``. ``--topic`` may be given
several times (``ALERTLOOP_INGEST_TOPIC`` takes a comma-separated list). SIGTERM and SIGINT stop
it cleanly: stop consuming, store and acknowledge what was taken, exit 0. It exits 2 when it
cannot start and 1 when it failed while running; error messages never show a password.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import MISSING, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from alertloop.services.common.commands import Command
from alertloop.services.common.config import (
    INFLUX_DB,
    INFLUX_PASSWORD,
    INFLUX_URL,
    LOG_OPTIONS,
    MQTT_OPTIONS,
    influx_from,
    mqtt_from,
    redact_urls,
)
from alertloop.services.common.errors import ConfigError
from alertloop.services.common.logs import configure_logging
from alertloop.services.common.settings import (
    Option,
    Values,
    integer,
    non_negative,
    number,
    positive,
)
from alertloop.services.ingester.config import IngesterConfig
from alertloop.services.ingester.errors import IngesterError
from alertloop.services.ingester.service import Ingester

__all__ = ["COMMAND", "build_parser", "config_from_args", "main", "parse", "redact"]

log = logging.getLogger(__name__)
PROG = "alertloop ingest"

_TYPES: dict[str, Callable[[str], Any]] = {
    "int": integer,
    "float": number,
    "str": str,
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
    "instance_tag": "store the client id in this tag ('ingester' with --share-group)",
    "min_value": "smallest accepted value",
    "max_value": "largest accepted value",
    "max_payload_bytes": "longer payloads are dead-lettered",
    "batch_size": "most points per InfluxDB write",
    "flush_interval": "longest a point waits before a write is attempted (s)",
    "http_timeout": "InfluxDB request timeout (s)",
    "retry_initial": "first retry delay after a failed write (s)",
    "retry_max": "largest retry delay (s)",
    "gzip": "gzip request bodies",
    "spool_dir": "spool directory",
    "spool_max_bytes": "spool size bound; when full, messages are no longer acknowledged",
    "spool_segment_bytes": "spool segment file size",
    "spool_fsync_interval": "fsync the spool this often (s); 0 = before every acknowledgement",
    "dead_letter_file": "dead-letter JSONL file",
    "dead_letter_topic": "also publish dead letters to this MQTT topic",
    "dead_letter_max_bytes": "rotate the dead-letter file at this size",
    "metrics_bind": "serve /metrics and /healthz on host:port",
    "queue_size": "messages waiting for the pipeline before reading pauses (>= receive maximum)",
    "keepalive": "MQTT keepalive (s)",
    "reconnect_min": "first reconnect delay (s)",
    "reconnect_max": "largest reconnect delay (s)",
    "stop_timeout": "on stop, keep writing the spool to InfluxDB this long (s)",
}
_DEFAULT_TEXT = {
    "spool_dir": "$XDG_STATE_HOME/alertloop/ingester/<client id>",
    "dead_letter_file": "<spool dir>/dead-letter.jsonl",
    "instance_tag": "none",
}
_POSITIVE = {
    "max_payload_bytes", "batch_size", "flush_interval", "http_timeout", "retry_initial",
    "spool_max_bytes", "spool_segment_bytes", "dead_letter_max_bytes", "queue_size", "keepalive",
    "reconnect_min", "receive_maximum", "retry_max", "reconnect_max", "session_expiry",
}  # fmt: skip
_NON_NEGATIVE = {"spool_fsync_interval", "stop_timeout"}
_CHOICES: dict[str, tuple[Any, ...]] = {"qos": (0, 1)}


def _options() -> list[Option]:
    options: list[Option] = [
        *MQTT_OPTIONS,
        INFLUX_URL,
        replace(INFLUX_DB, help="database, created when missing", old_flags=("--database",)),
        INFLUX_PASSWORD,
        Option(
            "--topic",
            "topic filter, may repeat (variable: comma-separated); {name} segments become tags, "
            "e.g. sensors/{device}/pot",
            multiple=True,
            default=["/pot"],
            dest="topics",
            metavar="FILTER",
            old_env=("ALERTLOOP_INGEST_TOPICS",),
        ),
    ]  # fmt: skip
    for spec in fields(IngesterConfig):
        if spec.name not in _HELP:
            continue
        kind = str(spec.type).replace(" | None", "")
        check = positive if spec.name in _POSITIVE else None
        check = non_negative if spec.name in _NON_NEGATIVE else check
        default = None if spec.default is MISSING else spec.default
        options.append(
            Option(
                "--" + spec.name.replace("_", "-"),
                _HELP[spec.name],
                type=_TYPES.get(kind, str),
                boolean=kind == "bool",
                default=default,
                default_text=_DEFAULT_TEXT.get(spec.name),
                check=check,
                choices=_CHOICES.get(spec.name, ()),
            )
        )
    return [*options, *LOG_OPTIONS]


COMMAND = Command(PROG, "Store MQTT sensor readings in InfluxDB.", _options())


def build_parser():  # type: ignore[no-untyped-def]
    """The argument parser (help and usage errors); reading is :func:`parse`."""
    return COMMAND.parser()


def parse(argv: Sequence[str]) -> Values:
    """Flags, then variables, then defaults. Raises ConfigError naming the flag or variable."""
    return COMMAND.parse(argv)


def config_from_args(values: Values) -> IngesterConfig:
    """Build the configuration from resolved options. Raises ConfigError."""
    kwargs: dict[str, object] = {
        "mqtt": mqtt_from(values),
        "influx": influx_from(values),
        "topics": values.topics,
    }
    for spec in fields(IngesterConfig):
        if spec.name in _HELP and values[spec.name] is not None:
            kwargs[spec.name] = values[spec.name]
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
    return redact_urls(text)


def main(argv: Sequence[str]) -> int:
    """Run until SIGTERM/SIGINT. Returns 0 after a clean stop, 2 when it cannot start (a
    configuration error, another ingester holding the spool or client id), 1 when it failed
    while running (see ``Ingester.failure``)."""
    urls: list[str | None] = []
    try:
        values = parse(argv)
        urls = [values.mqtt_url, values.influx_url]
        configure_logging(values.log_level, values.log_format)
        cfg = config_from_args(values)
        ingester = Ingester(cfg)
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        ingester.start()
    except (ConfigError, IngesterError, OSError) as exc:
        print(f"{PROG}: {redact(str(exc), urls)}", file=sys.stderr)
        return 2
    if ingester.metrics_url:
        log.info("serving /metrics and /healthz", extra={"url": ingester.metrics_url})
    while not (stop.wait(0.5) or ingester.failed.is_set()):
        pass
    log.info("stopping")
    ingester.stop()
    if ingester.failure:
        print(f"{PROG}: {redact(ingester.failure, urls)}", file=sys.stderr)
        return 1
    return 0
