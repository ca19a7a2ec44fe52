"""Failures inside the pipeline, on the real broker and database: a dead-letter file on a full
device, a spool that cannot be read (while running, while stopping, in the real process) or
written (a process whose files may not grow), and payloads that must not be stored as they are (a device time of 1e-9 ms, a 1 MB payload)."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from alertloop.hil.capture import MqttCapture
from alertloop.hil.influx import TestDatabase
from alertloop.hil.stack.probes import free_port
from alertloop.services.common.config import InfluxSettings, MqttSettings
from alertloop.services.common.deadline import wait_until
from alertloop.services.ingester import Ingester

ROOT = Path(__file__).resolve().parents[2]


def nowhere() -> InfluxSettings:
    """An InfluxDB that is down: nothing listens on this 127.0.0.1 port."""
    return InfluxSettings("127.0.0.1", free_port(), database="down")


def condition_lines(caplog: pytest.LogCaptureFixture, name: str) -> int:
    return sum(1 for r in caplog.records if getattr(r, "condition", None) == name)


def break_segments(spool: Path) -> None:
    """Cut every segment to nothing under the ingester, as another process or a bad disk would."""
    for segment in spool.glob("seg-*.lp"):
        os.truncate(segment, 0)


def spooled_then_broken(
    ingester_factory: Callable[..., Ingester],
    mqtt_capture: MqttCapture,
    topic: str,
    spool: Path,
    count: int,
    **overrides: object,
) -> Ingester:
    """An ingester with InfluxDB away, ``count`` points in its spool, then the spool broken."""
    ingester = ingester_factory(influx=nowhere(), spool_dir=spool, **overrides)
    for value in range(count):
        mqtt_capture.publish(topic, str(value))
    wait_until(lambda: ingester.stats["spooled"] == count, 10, what=f"{count} points in the spool")
    break_segments(spool)
    return ingester


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
def test_a_dead_letter_file_on_a_full_device_keeps_the_pipeline_going(
    alertloop_ingester_factory: Callable[..., Ingester],
    alertloop_mqtt_capture: MqttCapture,
    alertloop_influxdb: TestDatabase,
    alertloop_unique_topic: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ingester = alertloop_ingester_factory(
        dead_letter_file=Path("/dev/full"), metrics_bind="127.0.0.1:0"
    )
    topic = f"{alertloop_unique_topic}/pot"
    for payload in ("abc", "5", "x" * 300, "7"):
        alertloop_mqtt_capture.publish(topic, payload)
    wait_until(
        lambda: ingester.stats["written"] == 2 and ingester.stats["dead_letters_lost"] == 2,
        10,
        what="2 points stored and 2 dead letters counted lost",
        state=lambda: ingester.stats,
    )
    assert ingester.stats["acked"] == ingester.stats["received"] == 4
    answer = requests.get(f"{ingester.metrics_url}/healthz", timeout=5)
    assert answer.status_code == 503
    assert "No space left on device" in answer.json()["problems"]["dead_letter_failing"]
    text = requests.get(f"{ingester.metrics_url}/metrics", timeout=5).text
    assert "alertloop_ingest_dead_letters_lost_total 2.0" in text
    assert 'alertloop_ingest_rejected_total{reason="too_long"} 1.0' in text
    for _ in range(50):  # still storing and acknowledging, and the log stays short
        alertloop_mqtt_capture.publish(topic, "bad")
    alertloop_mqtt_capture.publish(topic, "9")
    wait_until(lambda: alertloop_influxdb.count() == 3, 10, what="a point after the failures")
    wait_until(lambda: ingester.stats["dead_letters_lost"] == 52, 10, what="52 lost letters")
    assert 1 <= condition_lines(caplog, "dead_letter_failing") <= 2  # started (+ once more in 30 s)
    first = [r for r in caplog.records if getattr(r, "condition", None) == "dead_letter_failing"][0]
    assert first.first["payload"] == "abc"  # type: ignore[attr-defined]
    assert not ingester.failed.is_set()


def test_an_unreadable_spool_fails_the_ingester_instead_of_spinning(
    alertloop_ingester_factory: Callable[..., Ingester],
    alertloop_mqtt_capture: MqttCapture,
    alertloop_unique_topic: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ingester = spooled_then_broken(
        alertloop_ingester_factory, alertloop_mqtt_capture, f"{alertloop_unique_topic}/pot", tmp_path / "spool", 20,
        retry_initial=0.05, retry_max=0.2, stop_timeout=1,
    )  # fmt: skip
    wait_until(
        ingester.failed.is_set, 15, what="the ingester to give up", state=lambda: ingester.stats
    )
    assert "the spool cannot be read; 20 points stay in" in str(ingester.failure)
    ok, details = ingester.health()
    assert not ok and "spool_read_failing" in details["problems"]  # type: ignore[operator]
    assert ingester.stats["spool_errors"] == 6
    assert 1 <= condition_lines(caplog, "spool_read_failing") <= 2  # started (+ once more in 30 s)


def test_the_stop_drain_does_not_spin_on_an_unreadable_spool(
    alertloop_ingester_factory: Callable[..., Ingester],
    alertloop_mqtt_capture: MqttCapture,
    alertloop_unique_topic: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ingester = spooled_then_broken(
        alertloop_ingester_factory, alertloop_mqtt_capture, f"{alertloop_unique_topic}/pot", tmp_path / "spool", 5,
        retry_initial=0.5, retry_max=1, stop_timeout=2,
    )  # fmt: skip
    started = time.monotonic()
    ingester.stop()
    took = time.monotonic() - started
    assert took < 2 + 3, took  # the drain deadline, not a spin and not a hang
    assert ingester.stats["spool_errors"] <= 6
    assert 1 <= condition_lines(caplog, "spool_read_failing") <= 2  # started (+ once more in 30 s)
    assert "the spool cannot be read" in str(ingester.failure)


def test_the_process_exits_non_zero_when_its_spool_cannot_be_read(
    alertloop_mqtt_broker: MqttSettings,
    alertloop_mqtt_capture: MqttCapture,
    alertloop_unique_topic: str,
    tmp_path: Path,
) -> None:
    spool, port, down = tmp_path / "spool", free_port(), nowhere()
    argv = [
        sys.executable,
        "-m",
        "alertloop.services.ingester",
        "--topic",
        f"{alertloop_unique_topic}/pot",
    ]
    argv += ["--client-id", f"exit-{port}", "--spool-dir", str(spool), "--log-format", "text"]
    argv += ["--metrics-bind", f"127.0.0.1:{port}", "--retry-initial", "0.05"]
    argv += [
        "--retry-max",
        "0.2",
        "--influx-url",
        down.url,
        "--mqtt-url",
        alertloop_mqtt_broker.url,
    ]
    log = tmp_path / "run.log"
    with open(log, "wb") as stderr:
        proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        metrics = f"http://127.0.0.1:{port}/metrics"

        def spooled() -> bool:
            try:
                text = requests.get(metrics, timeout=1).text
            except requests.RequestException:
                return False
            return "alertloop_ingest_spooled_total 3.0" in text

        wait_until(lambda: proc.poll() is None and mqtt_connected(port), 15, what="subscribed")
        for value in range(3):
            alertloop_mqtt_capture.publish(f"{alertloop_unique_topic}/pot", str(value))
        wait_until(spooled, 10, what="3 points spooled", state=lambda: log.read_text()[-2000:])
        break_segments(spool)
        assert proc.wait(20) == 1, log.read_text()[-2000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert "the spool cannot be read; 3 points stay in" in log.read_text()


def mqtt_connected(port: int) -> bool:
    try:
        return bool(
            requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).json()["checks"][
                "mqtt_connected"
            ]
        )
    except (requests.RequestException, ValueError, KeyError):
        return False


def test_implausible_device_times_and_huge_payloads_are_dead_lettered_in_bounds(
    alertloop_ingester_factory: Callable[..., Ingester],
    alertloop_mqtt_capture: MqttCapture,
    alertloop_influxdb: TestDatabase,
    alertloop_unique_topic: str,
    tmp_path: Path,
) -> None:
    letters = tmp_path / "dead.jsonl"
    ingester = alertloop_ingester_factory(dead_letter_file=letters)
    topic = f"{alertloop_unique_topic}/pot"
    huge = b"{" + b"9" * 1_000_000
    now_ms = time.time_ns() // 1_000_000
    for payload in (
        b'{"value": 5, "ts": 1e-9}',
        b'{"value": 5, "ts": %d}' % (now_ms // 1000),  # seconds, not milliseconds
        b'{"value": 5, "ts": %d}' % (now_ms + 7 * 86_400_000),
        huge,
        b'{"value": 6, "ts": %d}' % now_ms,
    ):
        alertloop_mqtt_capture.publish(topic, payload)
    wait_until(
        lambda: ingester.stats["written"] == 1 and ingester.stats["dead_lettered"] == 4,
        10,
        what="1 point and 4 dead letters",
        state=lambda: ingester.stats,
    )
    rows = alertloop_influxdb.query('SELECT "value" FROM "pot" WHERE time > 0')
    assert [(row["time"], row["value"]) for row in rows] == [(now_ms * 1_000_000, 6)]
    records = [json.loads(line) for line in letters.read_text().splitlines()]
    assert [r["reason"] for r in records] == ["bad_ts", "bad_ts", "bad_ts", "too_long"]
    assert "epoch seconds?" in records[1]["detail"]
    big = records[3]
    assert big["truncated"] is True and big["payload_bytes"] == len(huge)
    assert big["payload"] == huge[:1024].decode()
    assert letters.stat().st_size < 4096


def _small_files(limit: int) -> Callable[[], None]:
    def apply() -> None:  # in the child, before exec: files it writes stop at ``limit`` bytes
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of a killed process
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_a_spool_that_cannot_be_written_is_reported_and_loses_nothing(
    alertloop_mqtt_broker: MqttSettings,
    alertloop_mqtt_capture: MqttCapture,
    alertloop_influxdb: TestDatabase,
    alertloop_ingester_factory: Callable[..., Ingester],
    alertloop_unique_topic: str,
    tmp_path: Path,
) -> None:
    spool, port, topic = tmp_path / "spool", free_port(), f"{alertloop_unique_topic}/pot"
    client_id = f"full-{port}"
    argv = [
        sys.executable,
        "-m",
        "alertloop.services.ingester",
        "--topic",
        topic,
        "--client-id",
        client_id,
    ]
    argv += ["--spool-dir", str(spool), "--metrics-bind", f"127.0.0.1:{port}"]
    argv += [
        "--mqtt-url",
        alertloop_mqtt_broker.url,
        "--influx-url",
        alertloop_influxdb.settings.url,
    ]
    argv += ["--influx-db", alertloop_influxdb.name, "--log-format", "text"]
    proc = subprocess.Popen(
        argv,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,  # a pipe: the file size limit applies to files only
        preexec_fn=_small_files(8192),
    )
    health = f"http://127.0.0.1:{port}/healthz"
    now_ms = time.time_ns() // 1_000_000
    payloads = [
        json.dumps({"value": i % 101, "ts": now_ms - 1000 + i, "seq": i}).encode()
        for i in range(600)
    ]
    try:
        wait_until(lambda: mqtt_connected(port), 15, what="the ingester subscribed")
        for payload in payloads:
            alertloop_mqtt_capture.publish(topic, payload)

        def failing() -> bool:
            answer = requests.get(health, timeout=2)
            return answer.status_code == 503 and "spool_write_failing" in answer.json()["problems"]

        wait_until(failing, 15, what="/healthz to report the spool write failure")
        assert (
            "File too large"
            in requests.get(health, timeout=2).json()["problems"]["spool_write_failing"]
        )
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == 0, err.decode()[-2000:]
    log_lines = [line for line in err.decode().splitlines() if "spool_write_failing" in line]
    assert 1 <= len(log_lines) <= 3, log_lines  # started (+ every 30 s), not once per retry
    alertloop_ingester_factory(client_id=client_id, spool_dir=spool)  # no limit: the rest comes now
    wait_until(
        lambda: alertloop_influxdb.count() == len(payloads),
        20,
        what="every message stored, none lost",
        state=lambda: alertloop_influxdb.count(),
    )
    rows = alertloop_influxdb.query('SELECT "value" FROM "pot"')
    assert sorted(r["value"] for r in rows) == sorted(i % 101 for i in range(600))


def test_a_pipeline_thread_that_dies_fails_the_ingester_and_loses_nothing(
    alertloop_ingester_factory: Callable[..., Ingester],
    alertloop_mqtt_capture: MqttCapture,
    alertloop_influxdb: TestDatabase,
    alertloop_unique_topic: str,
    tmp_path: Path,
) -> None:
    spool = tmp_path / "spool"
    ingester = alertloop_ingester_factory(spool_dir=spool)

    def bug(messages: object) -> None:
        raise RuntimeError("a bug in the converter")

    ingester._converter.convert = bug  # type: ignore[method-assign,assignment]
    alertloop_mqtt_capture.publish(f"{alertloop_unique_topic}/pot", "42")
    wait_until(ingester.failed.is_set, 10, what="the ingester to fail")
    assert "the pipeline thread died: RuntimeError('a bug in the converter')" in str(
        ingester.failure
    )
    ok, details = ingester.health()
    assert not ok and "failed" in details["problems"]  # type: ignore[operator]
    assert ingester.stats["acked"] == 0  # the broker still has the message
    ingester.stop()
    alertloop_ingester_factory(spool_dir=spool, client_id=ingester.cfg.client_id)
    wait_until(
        lambda: alertloop_influxdb.count() == 1, 10, what="the message stored by the next run"
    )
