"""The MQTT side both simulated boards share, modelled on the sketches' PubSubClient loop.

One thread per board runs the sketch's ``loop()``: when not connected, try to connect
(blocking until CONNACK, like ``client.connect()``), and on failure print the sketch's line and
wait ``reconnect_interval`` s; when connected, do the board's work and let paho read and write.
paho's callbacks only turn what they get into small frozen events on a bounded queue; the
thread handles them after each ``loop()``.

Presence: a last will ``status/<client-id>`` = ``offline`` (retained), ``online`` on connect,
``offline`` again on a clean ``stop()``. ``kill()`` drops the connection without a DISCONNECT,
like a board losing power, so the broker publishes the will.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Self

import paho.mqtt.client as paho

from alertloop.services.common.config import MqttSettings
from alertloop.services.common.deadline import Deadline, wait_until
from alertloop.services.common.mqtt import make_client
from alertloop.sim.board_api.protocol import BoardError
from alertloop.sim.board_api.recording import BoardLifecycle
from alertloop.sim.serial_log import SerialLog

__all__ = ["MqttMessage", "SimMqttBoard", "pubsub_state"]

log = logging.getLogger(__name__)

# PubSubClient's state() codes the sketches print after "failed, rc=".
CONNECTION_TIMEOUT = -4
CONNECT_FAILED = -2
_CONNACK_STATES = {
    "Success": 0,
    "Unsupported protocol version": 1,
    "Client identifier not valid": 2,
    "Server unavailable": 3,
    "Bad user name or password": 4,
    "Not authorized": 5,
}
EVENT_QUEUE_SIZE = 1000
MAX_IDLE_WAIT = 0.1


def pubsub_state(reason_code: Any) -> int:
    """PubSubClient's ``state()`` for a paho CONNACK reason code (3 when unknown)."""
    name = reason_code.getName() if hasattr(reason_code, "getName") else str(reason_code)
    return _CONNACK_STATES.get(name, 3)


@dataclass(frozen=True)
class MqttMessage:
    """A message the board received: topic, payload bytes, flags, arrival time (epoch s)."""

    topic: str
    payload: bytes
    qos: int
    retain: bool
    time: float


@dataclass(frozen=True)
class _ConnAck:
    state: int


@dataclass(frozen=True)
class _Disconnected:
    reason: str


@dataclass(frozen=True)
class _SubAck:
    ok: bool


class SimMqttBoard(BoardLifecycle):
    """Connection, presence and the board thread; subclasses fill in the hooks."""

    name = "board"

    def __init__(
        self,
        mqtt: MqttSettings,
        client_id: str,
        *,
        reconnect_interval: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        serial: SerialLog | None = None,
        keepalive: int = 15,
        connect_timeout: float = 5.0,
        status_topic: str | None = None,
    ) -> None:
        if reconnect_interval <= 0:
            raise ValueError(f"reconnect_interval must be > 0, got {reconnect_interval!r}")
        self.mqtt = mqtt
        self.client_id = client_id
        self.reconnect_interval = reconnect_interval
        self.clock = clock
        self.serial = serial if serial is not None else SerialLog()
        self.keepalive = keepalive
        self.connect_timeout = connect_timeout
        self.status_topic = status_topic or f"status/{client_id}"
        self._events: queue.Queue[object] = queue.Queue(maxsize=EVENT_QUEUE_SIZE)
        self._stop_event = threading.Event()
        self._thread: threading.Thread | None = None
        self._client: paho.Client | None = None
        self._connected = False
        self._kill = False
        self._network_up = True
        self._network_dropped = threading.Event()
        self.connects = 0
        self.dropped_events = 0
        self.failure: BaseException | None = None

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> Self:
        """Start the board's thread (it connects, and retries while the broker is away)."""
        if self._thread is not None and self._thread.is_alive():
            return self
        client = make_client(self.mqtt, self.client_id)
        client.on_connect = self._paho_connect
        client.on_disconnect = self._paho_disconnect
        client.on_message = self._paho_message
        client.on_subscribe = self._paho_subscribe
        client.will_set(self.status_topic, "offline", qos=1, retain=True)
        self._client = client
        self._stop_event.clear()
        self._kill = False
        self.failure = None
        self._thread = threading.Thread(target=self._run, name=f"sim-{self.client_id}", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Publish ``offline``, disconnect cleanly and end the thread. Idempotent."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stop_event.set()
        thread.join(timeout)
        if thread.is_alive():
            log.warning(
                "%s %s: thread did not end within %.1f s", self.name, self.client_id, timeout
            )

    def kill(self, timeout: float = 5.0) -> None:
        """Cut the connection without a DISCONNECT (a power cut) and end the thread; the
        broker then publishes the last will."""
        self._kill = True
        self.stop(timeout)

    def set_network(self, up: bool) -> None:
        """WiFi down (``up=False``): the connection drops without a DISCONNECT (the broker
        sends the will) and every attempt fails with rc=-2 until it is up again, as the host
        build's ``#HW wifi state=down`` does to the sketches."""
        self._network_up = up
        if not up:
            self._network_dropped.set()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def connected(self) -> bool:
        """True while the board holds an accepted MQTT connection."""
        return self._connected

    def _ready(self) -> bool:
        return self._connected

    def wait_connected(self, timeout: float = 10.0) -> None:
        """Wait until the board is connected (and, for a subscriber, subscribed).

        Raises BoardNotStarted if not running, TimeoutExpired after ``timeout``."""
        self._require_running()
        wait_until(
            self._ready,
            timeout,
            what=f"{self.name} {self.client_id} to connect to {self.mqtt.safe_url}",
            state=self._describe,
            hint="is the broker running and are the credentials right?",
        )

    def _describe(self) -> str:
        status = "connected" if self._connected else "not connected"
        failure = f", failed: {self.failure!r}" if self.failure else ""
        return (
            f"{self.name} {self.client_id} {status} to {self.mqtt.safe_url}{failure}; "
            f"serial tail {self.serial.tail(4)}"
        )

    def _require_running(self) -> None:
        if self.failure is not None and not self.running:
            raise BoardError(
                f"{self.name} {self.client_id} stopped after an error: {self.failure!r}"
            )
        super()._require_running()

    # -- hooks for the boards -------------------------------------------------------------
    def _on_thread_start(self) -> None:
        """Runs first in the board thread (the sketch's ``setup()``)."""

    def _on_connected(self) -> None:
        """Runs in the board thread after each accepted connection."""

    def _on_subscribed(self, ok: bool) -> None:
        """Runs in the board thread when a SUBACK arrives."""

    def _on_message(self, message: MqttMessage) -> None:
        """Runs in the board thread for each message received."""

    def _tick(self, now: float) -> None:
        """Runs in the board thread on each pass while connected (``now`` from ``clock``)."""

    def _next_wakeup(self) -> float | None:
        """When (``clock`` time) ``_tick`` next has work to do, or None."""
        return None

    # -- paho callbacks: convert and hand over, never block --------------------------------
    def _put(self, event: object) -> None:
        try:
            self._events.put_nowait(event)
        except queue.Full:
            self.dropped_events += 1

    def _paho_connect(
        self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        self._put(_ConnAck(pubsub_state(reason)))

    def _paho_disconnect(
        self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        self._put(_Disconnected(str(reason)))

    def _paho_message(self, client: Any, userdata: Any, msg: paho.MQTTMessage) -> None:
        self._put(
            MqttMessage(msg.topic, bytes(msg.payload), msg.qos, bool(msg.retain), time.time())
        )

    def _paho_subscribe(self, client: Any, userdata: Any, mid: int, codes: Any, props: Any) -> None:
        self._put(_SubAck(all(not code.is_failure for code in codes)))

    # -- the board thread -----------------------------------------------------------------
    def _run(self) -> None:
        next_attempt = self.clock()
        try:
            self._on_thread_start()
            while not self._stop_event.is_set():
                if self._network_dropped.is_set():
                    self._network_dropped.clear()
                    self._lose_network()
                now = self.clock()
                if not self._connected:
                    if now >= next_attempt:
                        if not self._connect():
                            next_attempt = self.clock() + self.reconnect_interval
                        continue
                    wake: float | None = next_attempt
                else:
                    self._tick(now)
                    wake = self._next_wakeup()
                wait = MAX_IDLE_WAIT if wake is None else wake - self.clock()
                self._pump(min(MAX_IDLE_WAIT, max(0.0, wait)))
        except Exception as exc:
            self.failure = exc
            log.exception("%s %s: board thread failed", self.name, self.client_id)
            self.serial.event("crash", reason=repr(exc))
        finally:
            if self._kill:
                self._cut()
            else:
                self._goodbye()
            self._connected = False

    def _pump(self, timeout: float) -> None:
        """Let paho read/write for up to ``timeout`` s, then handle what arrived."""
        client = self._client
        if client is not None and client.socket() is not None:
            client.loop(timeout)
        else:
            self._stop_event.wait(timeout)
        self._drain()

    def _drain(self) -> int | None:
        """Handle queued events; return the CONNACK state if one came."""
        state = None
        while True:
            try:
                event = self._events.get_nowait()
            except queue.Empty:
                return state
            if isinstance(event, _ConnAck):
                state = event.state
            elif isinstance(event, _Disconnected):
                if self._connected:
                    self._connected = False
                    self.serial.event("mqtt", state="disconnected", reason=event.reason)
            elif isinstance(event, _SubAck):
                self._on_subscribed(event.ok)
            elif isinstance(event, MqttMessage):
                self._on_message(event)

    def _connect(self) -> bool:
        """One attempt, as the sketch's ``mqttReConnect()`` body; True when connected."""
        client = self._client
        assert client is not None
        self.serial.print("Attempting MQTT connection...")
        state: int | None = None
        try:
            if not self._network_up:
                raise OSError("WiFi is down")
            client.connect(self.mqtt.host, self.mqtt.port, keepalive=self.keepalive)
        except (OSError, ValueError) as exc:
            log.debug("%s %s: connect failed: %s", self.name, self.client_id, exc)
            state = CONNECT_FAILED
        else:
            deadline = Deadline(self.connect_timeout)
            while state is None and not self._stop_event.is_set():
                if client.socket() is None:
                    state = CONNECT_FAILED
                elif deadline.expired:
                    state = CONNECTION_TIMEOUT
                    client.disconnect()
                else:
                    client.loop(min(0.05, deadline.remaining))
                    state = self._drain()
            if state is None:  # stopping
                return False
        if state != 0:
            self.serial.println(
                f"failed, rc={state} try again in {self.reconnect_interval:g} seconds"
            )
            self.serial.event("mqtt", state="failed", rc=state)
            return False
        self._connected = True
        self.connects += 1
        self.serial.println("connected")
        self.serial.event("mqtt", state="connected", client=self.client_id)
        client.publish(self.status_topic, "online", qos=1, retain=True)
        self._on_connected()
        return True

    def _goodbye(self) -> None:
        client = self._client
        if client is None:
            return
        if self._connected:
            info = client.publish(self.status_topic, "offline", qos=1, retain=True)
            deadline = Deadline(1.0)
            while not info.is_published() and not deadline.expired and client.socket():
                client.loop(min(0.05, deadline.remaining))
            client.disconnect()
            self.serial.event("mqtt", state="stopped")
        elif client.socket() is not None:
            client.disconnect()

    def _lose_network(self) -> None:
        """The WiFi went away: drop the socket without a DISCONNECT."""
        client = self._client
        sock = client.socket() if client is not None else None
        if isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        if self._connected:
            self._connected = False
            self.serial.event("mqtt", state="disconnected", reason="wifi down")

    def _cut(self) -> None:
        client = self._client
        sock = client.socket() if client is not None else None
        if isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        self.serial.event("mqtt", state="killed")
