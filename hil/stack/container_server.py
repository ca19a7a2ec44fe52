"""One server in a container, stopped, killed and started again on the same loopback port.

The counterpart of :class:`alertloop.hil.stack.server.ServerProcess` for the docker backend: a
testcontainers ``DockerContainer`` whose ports are published on ``127.0.0.1`` only, at ports
chosen up front, so a container that is stopped and started again keeps its address (the fault
tests rely on that, as they do with the native servers). Readiness is the same probe the
native backend uses, run against the published port.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from alertloop.hil.stack.base import ServerStartError
from alertloop.services.common.deadline import wait_until
from alertloop.services.common.errors import TimeoutExpired

__all__ = ["ContainerServer"]


class ContainerServer:
    """A container made from ``container`` (a testcontainers ``DockerContainer``, not started)."""

    def __init__(
        self,
        name: str,
        container: Any,
        ready: Callable[[], bool],
        *,
        start_timeout: float = 60.0,
    ) -> None:
        self.name = name
        self._container = container
        self._ready = ready
        self.start_timeout = start_timeout
        self._created = False

    @property
    def docker_container(self) -> Any:
        """The docker SDK's container object (None before the first start)."""
        return self._container._container if self._created else None

    @property
    def running(self) -> bool:
        wrapped = self.docker_container
        if wrapped is None:
            return False
        with contextlib.suppress(Exception):
            wrapped.reload()
            return bool(wrapped.status == "running")
        return False

    def start(self) -> None:
        """Creates and starts the container the first time, starts it again after a stop."""
        if not self._created:
            self._created = True
            try:
                self._container.start()
            except Exception as exc:
                raise ServerStartError(f"{self.name}: container failed to start: {exc}") from exc
        else:
            self.docker_container.start()
        self._wait_ready()

    def _wait_ready(self) -> None:
        def ready() -> bool:
            if not self.running:
                raise ServerStartError(
                    f"{self.name}: container exited while starting; log tail:\n{self.log_tail()}"
                )
            with contextlib.suppress(OSError):
                return self._ready()
            return False

        try:
            wait_until(ready, self.start_timeout, what=f"{self.name} to answer", interval=0.1)
        except TimeoutExpired as exc:
            raise ServerStartError(f"{exc}; log tail:\n{self.log_tail()}") from exc

    def stop(self) -> None:
        """Stops the container (SIGTERM, then SIGKILL after 10 s); it can be started again."""
        wrapped = self.docker_container
        if wrapped is not None and self.running:
            wrapped.stop(timeout=10)

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        wrapped = self.docker_container
        if wrapped is not None and self.running:
            wrapped.kill()

    def remove(self) -> None:
        """Removes the container and its anonymous volumes, whatever state it is in."""
        wrapped = self.docker_container
        if wrapped is not None:
            with contextlib.suppress(Exception):
                wrapped.remove(force=True, v=True)
        self._created = False

    def log_tail(self, lines: int = 30) -> str:
        wrapped = self.docker_container
        if wrapped is None:
            return ""
        try:
            text: str = wrapped.logs(tail=lines).decode(errors="replace")
        except Exception as exc:  # the container may be gone already
            return f"(no log: {exc})"
        return text

    def __repr__(self) -> str:
        return f"<ContainerServer {self.name} running={self.running}>"
