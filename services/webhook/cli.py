"""``alertloop webhook`` (run the service in the foreground) and ``alertloop hash-password``."""

from __future__ import annotations

import getpass
import logging
import signal
import sys
import threading
from collections.abc import Sequence

from alertloop.services.common.commands import Command
from alertloop.services.common.config import redact_urls
from alertloop.services.common.errors import ConfigError
from alertloop.services.common.logs import configure_logging
from alertloop.services.common.settings import Option
from alertloop.services.webhook.config import config_from_args, parse
from alertloop.services.webhook.errors import WebhookError
from alertloop.services.webhook.passwords import DEFAULT_METHOD, hash_password
from alertloop.services.webhook.server import WebhookServer

log = logging.getLogger(__name__)
PROG = "alertloop webhook"
HASH_PASSWORD = Command(
    "alertloop hash-password",
    "Hash a password read on standard input, for --users-file or ALERTLOOP_WEBHOOK_USERS.",
    [
        Option("--method", "werkzeug method (scrypt, pbkdf2)", default=DEFAULT_METHOD),
        Option("--user", "print 'USER:hash' instead of the bare hash"),
    ],
)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the webhook until SIGINT or SIGTERM; 0 on a clean stop, 2 for bad configuration,
    1 when it fails while running."""
    try:
        values = parse(list(sys.argv[1:] if argv is None else argv))
        configure_logging(values.log_level, values.log_format)
        cfg = config_from_args(values)
    except ConfigError as exc:
        print(f"{PROG}: {redact_urls(str(exc))}", file=sys.stderr)
        return 2
    stop = threading.Event()
    previous = {
        sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    server = WebhookServer(cfg)
    try:
        server.start()
        stop.wait()
        log.info("stopping on signal")
    except WebhookError as exc:
        print(f"{PROG}: {redact_urls(str(exc))}", file=sys.stderr)
        return 1
    finally:
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def hash_password_main(argv: Sequence[str] | None = None) -> int:
    """Read a password on stdin (asking twice on a terminal) and print its hash; 2 if empty."""
    try:
        args = HASH_PASSWORD.parse(list(sys.argv[1:] if argv is None else argv))
    except ConfigError as exc:
        print(f"alertloop hash-password: {exc}", file=sys.stderr)
        return 2
    if sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            print("alertloop hash-password: the passwords differ", file=sys.stderr)
            return 2
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        print("alertloop hash-password: empty password", file=sys.stderr)
        return 2
    try:
        hashed = hash_password(password, args.method)
    except ValueError as exc:
        print(f"alertloop hash-password: {exc}", file=sys.stderr)
        return 2
    print(f"{args.user}:{hashed}" if args.user else hashed)
    return 0
