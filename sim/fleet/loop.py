"""The fleet's event loop: every device's paho client driven from one thread and one selector.

paho's external-loop API: ``on_socket_open``/``on_socket_close`` register each client's socket
with a ``selectors`` selector (epoll on Linux); a readable socket gets ``loop_read()``, a socket
with bytes paho could not write yet gets write interest and ``loop_write()``; ``loop_misc()``
(keepalive, PINGREQ) runs for every client once a second, spread over the second. A publish
from a tick writes to the socket at once (paho does that when no write callback is set).

Timers live in two heaps: ESP32 ticks (``start + k * period``, via ``alertloop.sim.schedule.Schedule``)
and connection attempts, which a token bucket spaces at ``connect_rate`` per second. Other
threads never touch a client: they queue a command and wake the loop through a socket pair.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import random
import selectors
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from alertloop.services.common.config import MqttSettings
from alertloop.sim.fleet.devices import FleetDevice, FleetEsp32
from alertloop.sim.fleet.stats import LatenessHistogram

__all__ = ["FleetLoop"]

log = logging.getLogger(__name__)

MISC_PERIOD = 1.0  # every client's loop_misc() once per this many seconds
MAX_WAIT = 0.05
TICK_BUDGET = 0.02
STOP_ACK_TIMEOUT = 3.0


def _settled(info: Any) -> bool:
    """True when a publish was acknowledged, or failed for good (connection lost)."""
    try:
        return bool(info.is_published())
    except (RuntimeError, ValueError):
        return True


class FleetLoop:
    """Owns the selector, the timers and (from ``start()`` on) every paho client."""

    def __init__(
        self,
        mqtt: MqttSettings,
        *,
        connect_rate: float,
        connect_timeout: float,
        reconnect_interval: float,
        reconnect_jitter: float,
        keepalive: int,
        seed: int | None = None,
    ) -> None:
        self.mqtt = mqtt
        self.connect_rate = connect_rate
        self.connect_timeout = connect_timeout
        self.reconnect_interval = reconnect_interval
        self.reconnect_jitter = reconnect_jitter
        self.keepalive = keepalive
        self.devices: list[FleetDevice] = []
        self.lateness = LatenessHistogram()
        self.connected = 0
        self.started_at: float | None = None
        self.all_connected_at: float | None = None
        self.failure: BaseException | None = None
        self._rng = random.Random(seed)
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._commands: deque[Callable[[], None]] = deque()
        self._order = itertools.count()
        self._ticks: list[tuple[float, int, FleetEsp32]] = []
        self._connects: list[tuple[float, int, FleetDevice]] = []
        self._timeouts: list[tuple[float, int, FleetDevice, int]] = []
        self._next_slot = 0.0
        self._misc_index = 0
        self._misc_at = 0.0
        self._stop = threading.Event()
        self._kill = False
        self._thread: threading.Thread | None = None

    # -- control (any thread) -------------------------------------------------------------
    def start(self, devices: Sequence[FleetDevice]) -> None:
        self.devices = list(devices)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="sim-fleet", daemon=True)
        self._thread.start()

    def stop(self, *, kill: bool = False, timeout: float = 30.0) -> None:
        """End the loop: a clean goodbye (``offline``, DISCONNECT), or with ``kill`` a power
        cut of every device (the broker publishes the wills)."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._kill = kill
        self._stop.set()
        self._wake()
        thread.join(timeout)
        if thread.is_alive():
            log.warning("fleet loop did not end within %.0f s", timeout)
        else:
            self._selector.close()
            self._wake_r.close()
            self._wake_w.close()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def call(self, command: Callable[[], None]) -> None:
        """Run ``command`` in the loop thread (soon)."""
        self._commands.append(command)
        self._wake()

    def _wake(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            self._wake_w.send(b"x")

    # -- paho socket callbacks (loop thread) ----------------------------------------------
    def socket_opened(self, client: Any, device: FleetDevice, sock: Any) -> None:
        device.write_registered = False
        self._selector.register(sock, selectors.EVENT_READ, device)

    def socket_closed(self, client: Any, device: FleetDevice, sock: Any) -> None:
        device.write_registered = False
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(sock)

    # -- connection events (loop thread) --------------------------------------------------
    def device_connected(self, device: FleetDevice) -> None:
        self.connected += 1
        now = time.monotonic()
        if device.first_connected is None:
            device.first_connected = now
            if isinstance(device, FleetEsp32):
                device.start_schedule(now, self._rng.uniform(0, device.period))
                assert device.schedule is not None
                self._push_tick(device)
        if self.all_connected_at is None and self.connected == len(self.devices):
            self.all_connected_at = now

    def connection_lost(self, device: FleetDevice) -> None:
        """The connection (or the attempt) ended; try again after the reconnect interval."""
        if device.connected:
            self.connected -= 1
            device.connected = False
        device.connecting = False
        if not self._stop.is_set():
            self._schedule_connect(device, self.reconnect_interval)

    def connection_failed(self, device: FleetDevice) -> None:
        """The broker refused the CONNECT (paho closes the socket itself)."""
        device.connecting = False
        if not self._stop.is_set():
            self._schedule_connect(device, self.reconnect_interval)

    def _schedule_connect(self, device: FleetDevice, delay: float) -> None:
        jitter = self._rng.uniform(0, self.reconnect_jitter) if self.reconnect_jitter else 0.0
        heapq.heappush(
            self._connects, (time.monotonic() + delay + jitter, next(self._order), device)
        )

    def _push_tick(self, device: FleetEsp32) -> None:
        assert device.schedule is not None
        heapq.heappush(self._ticks, (device.schedule.next, next(self._order), device))

    # -- the loop -------------------------------------------------------------------------
    def _run(self) -> None:
        self.started_at = time.monotonic()
        self._next_slot = self.started_at
        for device in self.devices:
            heapq.heappush(self._connects, (self.started_at, next(self._order), device))
        try:
            while not self._stop.is_set():
                self._run_commands()
                now = time.monotonic()
                self._do_connects(now)
                self._do_timeouts(now)
                self._do_ticks()
                self._do_misc(time.monotonic())
                self._poll(self._wait_time())
        except Exception as exc:
            self.failure = exc
            log.exception("fleet loop failed")
        finally:
            try:
                if self._kill:
                    self._cut_all()
                else:
                    self._goodbye()
            finally:
                for device in self.devices:
                    self._close(device)

    def _run_commands(self) -> None:
        while self._commands:
            command = self._commands.popleft()
            try:
                command()
            except Exception:
                log.exception("fleet command failed")

    def _do_connects(self, now: float) -> None:
        heap = self._connects
        while heap and heap[0][0] <= now and self._next_slot <= now:
            _, _, device = heapq.heappop(heap)
            if device.connected or device.connecting:
                continue
            self._next_slot = max(self._next_slot, now - 0.05) + 1.0 / self.connect_rate
            self._connect(device)

    def _connect(self, device: FleetDevice) -> None:
        device.attempt += 1
        device.connecting = True
        try:
            device.client.connect(self.mqtt.host, self.mqtt.port, keepalive=self.keepalive)
        except (OSError, ValueError) as exc:
            device.connecting = False
            device.connect_failures += 1
            device.last_state = f"connect failed: {exc}"
            self._close(device)
            self._schedule_connect(device, self.reconnect_interval)
            return
        deadline = time.monotonic() + self.connect_timeout
        heapq.heappush(self._timeouts, (deadline, next(self._order), device, device.attempt))
        self._check_write(device)

    def _do_timeouts(self, now: float) -> None:
        heap = self._timeouts
        while heap and heap[0][0] <= now:
            _, _, device, attempt = heapq.heappop(heap)
            if device.connecting and device.attempt == attempt:
                device.connect_failures += 1
                device.last_state = "no CONNACK in time"
                device.connecting = False
                self._close(device)
                self.connection_failed(device)

    def _do_ticks(self) -> None:
        """Publish every due tick, for at most TICK_BUDGET s, so that a loop that falls
        behind still reads, writes and connects between batches."""
        heap = self._ticks
        budget_end = time.monotonic() + TICK_BUDGET
        while heap:
            now = time.monotonic()
            if heap[0][0] > now or now > budget_end:
                return
            due, _, device = heapq.heappop(heap)
            schedule = device.schedule
            assert schedule is not None
            if device.tick():
                self.lateness.add(now - due)
                self._check_write(device)
            schedule.advance(now)
            self._push_tick(device)

    def _do_misc(self, now: float) -> None:
        if now < self._misc_at or not self.devices:
            return
        # a share of the clients each pass, so that all get loop_misc() once per MISC_PERIOD
        share = max(1, len(self.devices) * 20 // int(MISC_PERIOD * 1000))
        for _ in range(share):
            device = self.devices[self._misc_index % len(self.devices)]
            self._misc_index += 1
            if device.client.socket() is not None:
                device.client.loop_misc()
                self._check_write(device)
        self._misc_at = now + 0.02

    def _wait_time(self) -> float:
        now = time.monotonic()
        wake = now + MAX_WAIT
        if self._ticks:
            wake = min(wake, self._ticks[0][0])
        if self._connects:
            wake = min(wake, max(self._connects[0][0], self._next_slot))
        if self._timeouts:
            wake = min(wake, self._timeouts[0][0])
        wake = min(wake, self._misc_at)
        return max(0.0, wake - now)

    def _poll(self, timeout: float) -> None:
        for key, mask in self._selector.select(timeout):
            device = key.data
            if device is None:
                with contextlib.suppress(BlockingIOError, OSError):
                    self._wake_r.recv(4096)
                continue
            client = device.client
            if mask & selectors.EVENT_READ:
                client.loop_read()
            if mask & selectors.EVENT_WRITE and client.socket() is not None:
                client.loop_write()
            self._check_write(device)

    def _check_write(self, device: FleetDevice) -> None:
        sock = device.client.socket()
        if sock is None:
            return
        want = device.client.want_write()
        if want != device.write_registered:
            events = selectors.EVENT_READ | (selectors.EVENT_WRITE if want else 0)
            try:
                self._selector.modify(sock, events, device)
            except (KeyError, ValueError):
                return
            device.write_registered = want

    # -- faults and the end ---------------------------------------------------------------
    def cut(self, device: FleetDevice) -> None:
        """Drop ``device``'s connection without a DISCONNECT (loop thread; it reconnects)."""
        sock = device.client.socket()
        if isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            device.client.loop_read()

    def _cut_all(self) -> None:
        for device in self.devices:
            sock = device.client.socket()
            if isinstance(sock, socket.socket):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def _goodbye(self) -> None:
        """``offline`` (retained, QoS 1) from every connected device, wait for the acks, then
        DISCONNECT, as ``SimMqttBoard.stop()`` does."""
        pending: dict[FleetDevice, Any] = {}
        for device in self.devices:
            if device.connected and device.client.socket() is not None:
                pending[device] = device.client.publish(
                    device.status_topic, "offline", qos=1, retain=True
                )
                self._check_write(device)
        end = time.monotonic() + STOP_ACK_TIMEOUT
        while pending and time.monotonic() < end:
            self._poll(min(MAX_WAIT, max(0.0, end - time.monotonic())))
            pending = {
                d: info
                for d, info in pending.items()
                if not _settled(info) and d.client.socket() is not None
            }
        for device in self.devices:
            if device.client.socket() is not None:
                device.client.disconnect()

    def _close(self, device: FleetDevice) -> None:
        sock = device.client.socket()
        if sock is None:
            return
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(sock)
        with contextlib.suppress(OSError):
            sock.close()
        device.client._sock = None  # noqa: SLF001 - paho has no public "forget the socket"
