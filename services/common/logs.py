"""Structured (JSON lines) or plain logging for the services and CLIs.

Every line passes ``redact_urls``: a URL with a password, in a message, a field or a
traceback, is written with the password as ``***``.

Logger names: every module logs with ``logging.getLogger(__name__)``, so each logger is the
module's import name under ``alertloop.`` (``alertloop.services.ingester.service``,
``alertloop.services.webhook.publisher``, ``alertloop.sim.board``, ...): ``alertloop`` selects
the project's lines, ``alertloop.services.ingester`` one service's.
"""

from __future__ import annotations

import json
import logging
import sys
import time

from alertloop.services.common.config import redact_urls

_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", (), None)).keys()) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, and any ``extra=`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return redact_urls(json.dumps(entry, default=str))


class TextFormatter(logging.Formatter):
    """Readable lines (time, level, logger, message), URLs redacted."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        return redact_urls(super().format(record))


class _CurrentStderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when each record is emitted, so a CLI run inside
    another program (a test runner swapping stderr) never writes to a closed stream."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self):  # type: ignore[no-untyped-def]
        return sys.stderr

    @stream.setter
    def stream(self, value: object) -> None:
        pass


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    """Send logs to stderr as JSON lines (``fmt="json"``) or readable text (``fmt="text"``)."""
    handler = _CurrentStderrHandler()
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
