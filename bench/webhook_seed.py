"""The seed's webhook handler, for the benchmark's baseline (b).

As in the original blog post: a plain-text password in the code, one global paho client that
connects, publishes and disconnects on every request without waiting for the publish to
leave, Flask's development server (threaded). Only the broker address and the port are
parameters. Never use this outside the benchmark.
"""

from __future__ import annotations

import argparse
import json
import logging

import paho.mqtt.client as mqtt
from flask import Flask, request
from flask_httpauth import HTTPBasicAuth
from paho.mqtt.enums import CallbackAPIVersion


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--mqtt-host", default="127.0.0.1")
    parser.add_argument("--mqtt-port", type=int, required=True)
    parser.add_argument("--topic", default="/alert")
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)

    client = mqtt.Client(CallbackAPIVersion.VERSION2)
    app = Flask(__name__)
    auth = HTTPBasicAuth()
    users = {"user": "password"}

    @auth.get_password
    def get_pw(username: str) -> str | None:
        return users.get(username)

    @app.route("/alert", methods=["POST"])
    @auth.login_required
    def alert() -> str:
        client.connect(args.mqtt_host, args.mqtt_port, 60)
        data = json.loads(request.data.decode("utf-8"))
        if data["state"] == "alerting":
            client.publish(topic=args.topic, payload="1", retain=True)
        elif data["state"] == "ok":
            client.publish(topic=args.topic, payload="0", retain=True)
        client.disconnect()
        return "ok"

    app.run(host="127.0.0.1", port=args.port, threaded=True)


if __name__ == "__main__":
    main()
