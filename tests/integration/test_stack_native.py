"""The native backend against the real mosquitto and influxd binaries."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from alertloop.hil.stack import NativeStack, ServerStartError
from alertloop.hil.stack.probes import influx_ping_ok, mqtt_connect_ok
from alertloop.hil.stack.server import ServerProcess


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_starts_and_stops_cleanly() -> None:
    with NativeStack() as the_stack:
        root = the_stack.root
        assert root is not None and root.is_dir()
        pids = [s.pid for s in the_stack._servers.values()]
        assert mqtt_connect_ok(the_stack.mqtt.host, the_stack.mqtt.port)
        assert influx_ping_ok(the_stack.influx.url)
        assert the_stack.influx.database in [
            d["name"] for d in the_stack.influx.client().get_list_database()
        ]
    assert not root.exists(), "temp dir left behind"
    assert pids and not any(_alive(pid) for pid in pids if pid), "server process left behind"


def test_two_stacks_at_once_on_different_ports(alertloop_native_stack_factory) -> None:
    first, second = alertloop_native_stack_factory(), alertloop_native_stack_factory()
    ports = {first.mqtt.port, second.mqtt.port, first.influx.port, second.influx.port}
    assert len(ports) == 4
    assert all(p != 1883 and p != 8086 for p in ports)
    assert mqtt_connect_ok("127.0.0.1", first.mqtt.port) and mqtt_connect_ok(
        "127.0.0.1", second.mqtt.port
    )


def test_restart_keeps_port(alertloop_native_stack_factory) -> None:
    the_stack = alertloop_native_stack_factory()
    broker = the_stack.servers["mqtt"]
    port = the_stack.mqtt.port
    broker.stop()
    assert not broker.running
    with pytest.raises(OSError):
        mqtt_connect_ok("127.0.0.1", port)
    broker.start()
    assert mqtt_connect_ok("127.0.0.1", port)


def test_authenticated_broker_refuses_anonymous(alertloop_native_stack_factory) -> None:
    the_stack = alertloop_native_stack_factory(mqtt_users={"board": "pw"})
    assert the_stack.mqtt.username == "board"
    assert mqtt_connect_ok("127.0.0.1", the_stack.mqtt.port, "board", "pw")
    assert not mqtt_connect_ok("127.0.0.1", the_stack.mqtt.port)


def test_failing_server_reports_its_log_tail(tmp_path: Path) -> None:
    conf = tmp_path / "bad.conf"
    conf.write_text("this_is_not_an_option 1\n")
    from alertloop.hil.stack.native import find_binary

    server = ServerProcess(
        "mosquitto",
        [find_binary("mosquitto") or "mosquitto", "-c", str(conf)],
        tmp_path / "mosquitto.log",
        lambda: False,
        start_timeout=10,
    )
    with pytest.raises(
        ServerStartError,
        match=r"(?s)mosquitto exited with code \d+.*last lines of .*mosquitto.log.*this_is_not_an_option",
    ):
        server.start()
    assert not server.running


def test_stack_start_failure_cleans_up_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    import alertloop.hil.stack.native as native

    good_conf = native._influxd_conf
    monkeypatch.setattr(
        native, "_influxd_conf", lambda *a: good_conf(*a) + "\n[http]\n  bogus = [\n"
    )
    the_stack = NativeStack(start_timeout=10)
    with pytest.raises(ServerStartError, match="influxd exited") as info:
        the_stack.start()
    assert "influxd.log" in str(info.value)
    assert not any(s.running for s in the_stack._servers.values())
    assert the_stack.root is not None and (the_stack.root / "influxd.log").exists(), (
        "logs kept for the user"
    )
    import shutil

    shutil.rmtree(the_stack.root)
