"""Separate processes for ``bench/ingest.py``: a publisher, a counting subscriber, a seed-style ingester.

    python bench/ingest_clients.py publish --mqtt-url URL --topic T --count N
    python bench/ingest_clients.py publish-c --mqtt-url URL --topic T --count N   (mosquitto_pub)
    python bench/ingest_clients.py count   --mqtt-url URL --topic T --count N
    python bench/ingest_clients.py seed    --mqtt-url URL --topic T --influx-url URL --database DB

Each prints JSON lines on stdout: ``{"event": "ready"}`` once subscribed (or connected), then
``{"event": "done", ...}`` with its figures.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime

import paho.mqtt.client as mqtt

from alertloop.services.common.config import InfluxSettings, MqttSettings
from alertloop.services.common.mqtt import make_client, new_client_id


def emit(event: str, **fields: object) -> None:
    print(json.dumps({"event": event, **fields}), flush=True)


def publish(args: argparse.Namespace) -> int:
    """Publish ``count`` payloads (integers 0..100) at QoS 1 as fast as the broker acknowledges;
    with ``--devices N``, JSON readings with device times spread over N devices (``{device}``
    in the topic)."""
    settings = MqttSettings.from_url(args.mqtt_url)
    client = make_client(settings, new_client_id("bench-pub"))
    client.max_inflight_messages_set(args.window)
    acked = 0
    cond = threading.Condition()

    def on_publish(*_: object) -> None:
        nonlocal acked
        with cond:
            acked += 1
            if acked >= args.count or acked % 100 == 0:
                cond.notify_all()

    client.on_publish = on_publish
    client.connect(settings.host, settings.port, 60)
    client.loop_start()
    emit("ready")
    payloads = [str(i % 101).encode() for i in range(101)]
    devices = [f"d{n:04d}" for n in range(args.devices)]
    # fleet-like load: messages spread over devices, each a JSON reading with its own device
    # time (ms, in the past, unique per device), so a message stored twice shows as a
    # duplicate and one never stored as a gap
    base_ms = int(time.time() * 1000) - args.count - 60_000
    started = time.monotonic()
    for i in range(args.count):
        with cond:
            while i - acked >= args.window * 2:
                cond.wait(1.0)
        if devices:
            seq = i // len(devices)
            payload = b'{"value": %d, "ts": %d, "seq": %d}' % (i % 101, base_ms + seq, seq)
            topic = args.topic.replace("{device}", devices[i % len(devices)])
            client.publish(topic, payload, qos=args.qos)
        else:
            client.publish(args.topic, payloads[i % 101], qos=args.qos)
    with cond:
        cond.wait_for(lambda: acked >= args.count, timeout=300)
    seconds = time.monotonic() - started
    client.disconnect()
    client.loop_stop()
    emit("done", published=acked, seconds=seconds, rate=acked / seconds)
    return 0


def publish_c(args: argparse.Namespace) -> int:
    """Publish with ``mosquitto_pub -l`` (C, one message a line): far less CPU than paho.

    ``-M`` sets its in-flight window to ``--window``: with libmosquitto's default of 20 the
    publisher waits for the broker's round trip every 20 messages and, not the CPU, sets the
    pace (about 30,000 messages/s here with cores to spare).

    mosquitto_pub drops what it has not sent yet when its input ends, so its input stays open
    until this process's own stdin is closed (by the bench, once the subscriber has counted).
    """
    settings = MqttSettings.from_url(args.mqtt_url)
    argv = ["mosquitto_pub", "-h", settings.host, "-p", str(settings.port), "-q", str(args.qos)]
    argv += ["-M", str(args.window)]
    if settings.username:
        argv += ["-u", settings.username, "-P", settings.password or ""]
    lines = b"".join(b"%d\n" % (i % 101) for i in range(args.count))
    child = subprocess.Popen([*argv, "-t", args.topic, "-l"], stdin=subprocess.PIPE)
    assert child.stdin is not None
    emit("ready")
    started = time.monotonic()
    child.stdin.write(lines)
    child.stdin.flush()
    emit("written", seconds=time.monotonic() - started)
    sys.stdin.read()  # the bench closes it when the run is over
    child.stdin.close()
    child.wait(60)
    emit("done", published=args.count)
    return 0


def count(args: argparse.Namespace) -> int:
    """Count messages (auto-acknowledged QoS 1) until ``count`` have arrived or ``timeout``."""
    settings = MqttSettings.from_url(args.mqtt_url)
    client = make_client(settings, new_client_id("bench-count"))
    seen = 0
    first = last = 0.0
    done = threading.Event()

    def on_message(*_: object) -> None:
        nonlocal seen, first, last
        seen += 1
        last = time.time()
        if seen == 1:
            first = last
        if seen >= args.count:
            done.set()
        elif seen % 20000 == 0:
            emit("progress", received=seen)

    client.on_message = on_message
    client.on_subscribe = lambda *_: emit("ready")
    client.on_connect = lambda c, *_: c.subscribe(args.topic, args.qos)
    client.connect(settings.host, settings.port, 60)
    client.loop_start()
    done.wait(args.timeout)
    client.disconnect()
    client.loop_stop()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    emit("done", received=seen, first=first, last=last, cpu=usage.ru_utime + usage.ru_stime)
    return 0


def seed(args: argparse.Namespace) -> int:
    """The seed's listener as the blog post has it: a default ``InfluxDBClient``, one
    ``write_points`` call per message inside ``on_message``, an INFO log line per message, and
    paho's default subscription QoS 0."""
    from influxdb import InfluxDBClient

    logging.basicConfig(level=logging.INFO)
    settings = MqttSettings.from_url(args.mqtt_url)
    influx_settings = InfluxSettings.from_url(args.influx_url, database=args.database)
    influx = InfluxDBClient(influx_settings.host, influx_settings.port, database=args.database)
    client = make_client(settings, new_client_id("bench-seed"))
    stored = 0

    def on_message(_c: object, _u: object, msg: mqtt.MQTTMessage) -> None:
        nonlocal stored
        body = [
            {
                "measurement": "pot",
                "tags": {},
                "time": datetime.now(UTC).replace(tzinfo=None).isoformat(),
                "fields": {"value": int(msg.payload)},
            }
        ]
        logging.info(body)
        influx.write_points(body)
        stored += 1

    client.on_message = on_message
    client.on_subscribe = lambda *_: emit("ready")
    client.on_connect = lambda c, *_: c.subscribe(args.topic, args.qos)
    client.connect(settings.host, settings.port, 60)
    client.loop_start()
    threading.Event().wait(args.timeout)
    client.disconnect()
    client.loop_stop()
    emit("done", stored=stored)
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["publish", "publish-c", "count", "seed"])
    parser.add_argument("--mqtt-url", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--count", type=int, default=0)
    parser.add_argument("--qos", type=int, default=1)
    parser.add_argument("--window", type=int, default=200, help="publisher in-flight messages")
    parser.add_argument("--devices", type=int, default=0, help="publish: spread over N devices")
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--influx-url", default="http://127.0.0.1:8086")
    parser.add_argument("--database", default="bench")
    args = parser.parse_args(argv)
    modes = {"publish": publish, "publish-c": publish_c, "count": count, "seed": seed}
    return modes[args.mode](args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
