"""A TCP proxy that injects network faults between a client and a server on 127.0.0.1.

Put it between any client and the broker, InfluxDB or the webhook, point the client at
``proxy.port``, and change the link while traffic flows:

- ``set_latency(seconds, jitter)``: every chunk arrives that much later (order kept);
- ``set_bandwidth(bytes_per_s)``: each direction of each connection paced to that rate;
- ``stall()``: half-open: connections stay open and new ones are accepted, but nothing is
  forwarded either way (what arrives is held, up to a bound, then TCP pushes back);
- ``refuse()``: new connections are refused (the port stops listening);
- ``drop(reset=True)``: every current connection is cut (RST, or FIN with ``reset=False``);
- ``heal()``: all of that off; held data flows on, the port listens again.

One asyncio loop in a thread of its own serves every connection; the methods are thread-safe
and return once the change is in effect.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import random
import socket
import struct
import threading
import time
from collections.abc import Coroutine
from dataclasses import dataclass, replace
from typing import Any, Self, TypeVar

from alertloop.services.common.config import MqttSettings
from alertloop.services.common.errors import AlertloopError
from alertloop.services.common.lifecycle import Lifecycle

__all__ = ["FaultProxy", "FaultProxyError", "LinkFaults", "ProxyEvent", "require_loopback"]

T = TypeVar("T")
CHUNK = 65536
HELD_CHUNKS = 256  # per direction and connection, before TCP backpressure
CALL_TIMEOUT = 10.0


class FaultProxyError(AlertloopError):
    """The proxy cannot start (port taken, non-loopback address) or did not answer."""


def require_loopback(host: str) -> None:
    """Raises FaultProxyError unless ``host`` is a loopback address (or ``localhost``)."""
    if host == "localhost":
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise FaultProxyError(
            f"{host!r} is not a loopback address: the fault proxy only talks to 127.0.0.1"
        )


@dataclass(frozen=True)
class LinkFaults:
    """What the link does now."""

    latency: float = 0.0
    jitter: float = 0.0
    bandwidth: float | None = None
    stalled: bool = False
    refusing: bool = False

    def describe(self) -> str:
        parts = []
        if self.latency or self.jitter:
            parts.append(f"latency {self.latency * 1000:.0f}±{self.jitter * 1000:.0f} ms")
        if self.bandwidth:
            parts.append(f"bandwidth {self.bandwidth:.0f} B/s")
        if self.stalled:
            parts.append("stalled")
        if self.refusing:
            parts.append("refusing")
        return ", ".join(parts) or "healthy"


@dataclass(frozen=True)
class ProxyEvent:
    """A change of the link (epoch s) and the state after it."""

    time: float
    action: str
    faults: str


class _Link:
    """One proxied connection: the client side, the server side, and their pumps."""

    def __init__(self, client: asyncio.StreamWriter) -> None:
        self.client = client
        self.upstream: asyncio.StreamWriter | None = None
        self.tasks: list[asyncio.Task[None]] = []
        self.closed = False

    def close(self, reset: bool = False) -> None:
        if self.closed:
            return
        self.closed = True
        for writer in (self.client, self.upstream):
            if writer is None:
                continue
            if reset:
                sock = writer.get_extra_info("socket")
                with contextlib.suppress(OSError, AttributeError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
        current = asyncio.current_task()
        for task in self.tasks:
            if task is not current:
                task.cancel()


class FaultProxy(Lifecycle):
    """Forwards ``127.0.0.1:port`` to ``upstream_host:upstream_port`` with faults on demand.

    Raises FaultProxyError for a non-loopback address or a port it cannot listen on.
    """

    def __init__(
        self,
        upstream_host: str,
        upstream_port: int,
        *,
        port: int = 0,
        name: str = "proxy",
        latency: float = 0.0,
        jitter: float = 0.0,
        bandwidth: float | None = None,
        seed: int | None = None,
    ) -> None:
        require_loopback(upstream_host)
        self.upstream = (upstream_host, upstream_port)
        self.host = "127.0.0.1"
        self.port = port
        self.name = name
        self.faults = LinkFaults(latency, jitter, bandwidth)
        self._check(self.faults)
        self.events: list[ProxyEvent] = []
        self.accepted = 0
        self.upstream_failures = 0
        self.bytes_up = 0
        self.bytes_down = 0
        self._rng = random.Random(seed)
        self._links: set[_Link] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._flowing: asyncio.Event | None = None

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> Self:
        if self._thread is not None:
            return self
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(
            target=loop.run_forever, name=f"fault-proxy-{self.name}", daemon=True
        )
        self._thread.start()
        self._call(self._astart())
        self._record("start")
        return self

    def stop(self) -> None:
        """Close every connection and the listener, end the thread. Idempotent."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        with contextlib.suppress(FaultProxyError, RuntimeError):
            self._call(self._astop())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(CALL_TIMEOUT)
        loop.close()
        self._loop = self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)

    @property
    def active(self) -> int:
        """Connections open now."""
        return len(self._links)

    def mqtt_settings(self, broker: MqttSettings) -> MqttSettings:
        """``broker``'s credentials, through this proxy."""
        return replace(broker, host=self.host, port=self.port)

    def url(self, scheme: str = "http") -> str:
        return f"{scheme}://{self.host}:{self.port}"

    # -- faults (any thread) --------------------------------------------------------------
    def set_latency(self, latency: float, jitter: float = 0.0) -> None:
        """Delay every chunk by ``latency`` ± ``jitter`` seconds (uniform), order kept."""
        self._change("latency", replace(self.faults, latency=latency, jitter=jitter))

    def set_bandwidth(self, bytes_per_s: float | None) -> None:
        """Pace each direction of each connection to ``bytes_per_s`` (None: unlimited)."""
        self._change("bandwidth", replace(self.faults, bandwidth=bytes_per_s))

    def stall(self) -> None:
        """Stop forwarding; keep and accept connections (a half-open link)."""
        self._change("stall", replace(self.faults, stalled=True))

    def refuse(self) -> None:
        """Refuse new connections (the port stops listening); open ones carry on."""
        self._change("refuse", replace(self.faults, refusing=True))

    def drop(self, reset: bool = True) -> int:
        """Cut every open connection (RST, or FIN with ``reset=False``); returns how many."""
        count = self._call(self._adrop(reset))
        self._record("drop" if reset else "close")
        return count

    def heal(self) -> None:
        """Back to a healthy link: no delay, no limit, forwarding, listening."""
        self._change("heal", LinkFaults())

    # -- internals ------------------------------------------------------------------------
    @staticmethod
    def _check(faults: LinkFaults) -> None:
        if faults.latency < 0 or faults.jitter < 0:
            raise ValueError("latency and jitter must be >= 0 s")
        if faults.jitter > 0 and faults.jitter > faults.latency:
            raise ValueError("jitter must not exceed latency (a chunk cannot arrive early)")
        if faults.bandwidth is not None and faults.bandwidth <= 0:
            raise ValueError("bandwidth must be > 0 bytes/s, or None for unlimited")

    def _change(self, action: str, faults: LinkFaults) -> None:
        self._check(faults)
        self._call(self._aapply(faults))
        self._record(action)

    def _record(self, action: str) -> None:
        self.events.append(ProxyEvent(time.time(), action, self.faults.describe()))

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        loop = self._loop
        if loop is None:
            coro.close()
            raise FaultProxyError(f"proxy {self.name} is not running: call start() first")
        future = asyncio.run_coroutine_threadsafe(coro, loop)
        try:
            return future.result(CALL_TIMEOUT)
        except TimeoutError:
            raise FaultProxyError(f"proxy {self.name} did not answer in {CALL_TIMEOUT} s") from None

    async def _astart(self) -> None:
        self._flowing = asyncio.Event()
        self._flowing.set()
        await self._listen()

    async def _listen(self) -> None:
        try:
            self._server = await asyncio.start_server(
                self._handle, self.host, self.port, reuse_address=True
            )
        except OSError as exc:
            raise FaultProxyError(
                f"proxy {self.name} cannot listen on {self.host}:{self.port}: {exc}"
            ) from exc
        self.port = self._server.sockets[0].getsockname()[1]

    async def _astop(self) -> None:
        if self._server is not None:
            self._server.close()
        for link in list(self._links):
            link.close()
        self._links.clear()

    async def _adrop(self, reset: bool) -> int:
        links = list(self._links)
        for link in links:
            link.close(reset=reset)
            self._links.discard(link)
        return len(links)

    async def _aapply(self, faults: LinkFaults) -> None:
        before, self.faults = self.faults, faults
        assert self._flowing is not None
        if faults.stalled:
            self._flowing.clear()
        else:
            self._flowing.set()
        if faults.refusing and not before.refusing and self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        elif not faults.refusing and self._server is None:
            await self._listen()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        link = _Link(writer)
        self._links.add(link)
        assert self._flowing is not None
        try:
            await self._flowing.wait()  # stalled: accept, never answer
            if link.closed:  # dropped while stalled
                return
            try:
                up_reader, up_writer = await asyncio.open_connection(*self.upstream)
            except OSError:
                self.upstream_failures += 1
                link.close(reset=True)
                return
            link.upstream = up_writer
            link.tasks = [
                asyncio.ensure_future(self._pump(link, reader, up_writer, up=True)),
                asyncio.ensure_future(self._pump(link, up_reader, writer, up=False)),
            ]
            await asyncio.gather(*link.tasks, return_exceptions=True)
        finally:
            link.close()
            self._links.discard(link)

    async def _pump(
        self, link: _Link, src: asyncio.StreamReader, dst: asyncio.StreamWriter, *, up: bool
    ) -> None:
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue(HELD_CHUNKS)
        loop = asyncio.get_running_loop()

        async def read() -> None:
            last = 0.0
            while True:
                try:
                    data = await src.read(CHUNK)
                except (OSError, asyncio.IncompleteReadError):
                    data = b""
                faults = self.faults
                delay = faults.latency
                if faults.jitter:
                    delay += self._rng.uniform(-faults.jitter, faults.jitter)
                last = max(last, loop.time() + delay)
                await queue.put((last, data))
                if not data:
                    return

        reader = asyncio.ensure_future(read())
        next_free = 0.0
        try:
            while True:
                at, data = await queue.get()
                wait = at - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                assert self._flowing is not None
                await self._flowing.wait()
                if not data:
                    return
                rate = self.faults.bandwidth
                for start in range(0, len(data), int(rate / 20) + 1 if rate else len(data)):
                    piece = data[start : start + (int(rate / 20) + 1 if rate else len(data))]
                    if rate:
                        next_free = max(next_free, loop.time()) + len(piece) / rate
                        pause = next_free - loop.time()
                        if pause > 0:
                            await asyncio.sleep(pause)
                    dst.write(piece)
                    await dst.drain()
                    if up:
                        self.bytes_up += len(piece)
                    else:
                        self.bytes_down += len(piece)
        except (OSError, ConnectionError):
            return
        finally:
            reader.cancel()
            link.close()
