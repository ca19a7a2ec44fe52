"""One server process (mosquitto or influxd) that can be started, stopped and restarted.

The process writes its output to a log file; a readiness probe decides when it is up. A server
that exits or does not become ready in time raises ServerStartError with the tail of its log.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from alertloop.hil.stack.base import ServerStartError
from alertloop.services.common.deadline import Deadline

_pause = threading.Event().wait  # a bounded pause between readiness probes


class ServerProcess:
    """A subprocess with a log file and a readiness probe; implements ``ServerControl``."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        ready: Callable[[], bool],
        *,
        cwd: Path | None = None,
        start_timeout: float = 30.0,
        stop_timeout: float = 10.0,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self._ready = ready
        self.cwd = cwd
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        """Start the process and wait until its probe succeeds.

        Raises ServerStartError (with the log tail) if it exits or is not ready in time.
        """
        if self.running:
            return
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        try:
            self._proc = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.cwd,
                start_new_session=True,  # a Ctrl-C in a terminal reaches us, not the server
            )
        except OSError as exc:
            raise ServerStartError(f"{self.name}: cannot run {self.argv[0]}: {exc}") from exc
        finally:
            log.close()
        deadline = Deadline(self.start_timeout)
        while True:
            code = self._proc.poll()
            if code is not None:
                self._proc = None
                raise ServerStartError(
                    f"{self.name} exited with code {code} while starting "
                    f"({' '.join(self.argv)}); last lines of {self.log_path}:\n{self.log_tail()}"
                )
            if self._probe():
                return
            if deadline.expired:
                self.stop()
                raise ServerStartError(
                    f"{self.name} was not ready after {self.start_timeout:.0f} s; "
                    f"last lines of {self.log_path}:\n{self.log_tail()}"
                )
            _pause(min(0.05, deadline.remaining))

    def _probe(self) -> bool:
        try:
            return bool(self._ready())
        except OSError:
            return False

    def stop(self) -> None:
        """Terminate the process, then kill it if it has not exited after ``stop_timeout``."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(self.stop_timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(self.stop_timeout)

    def kill(self) -> None:
        """End the process at once with SIGKILL (for fault tests)."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(self.stop_timeout)

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:]) or "(log is empty)"

    def __repr__(self) -> str:
        return f"<ServerProcess {self.name} pid={self.pid} running={self.running}>"
