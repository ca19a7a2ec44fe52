"""A Flask endpoint that does nothing, served exactly like the webhook service (baseline (c))."""

from __future__ import annotations

import argparse
import signal
import threading

from flask import Flask

from alertloop.services.webhook.httpfront import HttpFront, HttpLimits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    app = Flask(__name__)

    @app.post("/alert")
    def alert() -> str:
        return "ok"

    http = HttpFront(app, "127.0.0.1", args.port, HttpLimits(threads=args.threads))
    http.start()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    http.stop()


if __name__ == "__main__":
    main()
