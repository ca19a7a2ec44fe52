"""A Podman API service of the project's own, for machines with Podman and no Docker engine.

``start`` runs ``podman system service`` on a socket in :func:`engine_state_dir`, with a
``containers.conf`` that carries the settings Podman needs in a container-in-container sandbox
(``runc``, no default ulimits: otherwise "setrlimit RLIMIT_NOFILE: Operation not permitted"), and
records its pid. ``stop`` ends that pid and nothing else. ``make test`` calls both around the run.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

from alertloop.hil.stack.base import DockerUnavailable
from alertloop.hil.stack.engine import Engine, _probe, engine_state_dir
from alertloop.services.common.deadline import Deadline, wait_until
from alertloop.services.common.errors import TimeoutExpired

__all__ = ["CONTAINERS_CONF", "running_service", "start_service", "stop_service"]

CONTAINERS_CONF = """\
# written by alertloop: the settings Podman needs here
[containers]
default_ulimits = []

[engine]
runtime = "runc"
"""


def _paths() -> tuple[Path, Path, Path, Path]:
    state = engine_state_dir()
    return state, state / "podman.sock", state / "podman.pid", state / "containers.conf"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def running_service() -> int | None:
    """The pid of the service ``start_service`` started, while it runs."""
    _, _, pid_file, _ = _paths()
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if _pid_alive(pid) else None


def start_service(timeout: float = 30.0) -> Engine:
    """Starts (or finds running) the project's Podman service; returns the engine it serves.

    Raises DockerUnavailable when Podman is not installed or the service does not answer.
    """
    podman = shutil.which("podman")
    if podman is None:
        raise DockerUnavailable("podman is not installed (apt-get install podman runc)")
    state, sock, pid_file, conf = _paths()
    url = f"unix://{sock}"
    if running_service() is not None:
        return _probe(url, 5.0)
    state.mkdir(parents=True, exist_ok=True)
    conf.write_text(CONTAINERS_CONF)
    sock.unlink(missing_ok=True)
    log = (state / "podman.log").open("ab")
    env = {**os.environ, "CONTAINERS_CONF": str(conf)}
    process = subprocess.Popen(
        [podman, "system", "service", "--time=0", url],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
        env=env,
        start_new_session=True,
    )
    log.close()
    pid_file.write_text(f"{process.pid}\n")
    deadline = Deadline(timeout)
    last: list[str] = []

    def answers() -> bool:
        if process.poll() is not None:
            raise DockerUnavailable(
                f"podman system service exited with {process.returncode}; see {state / 'podman.log'}"
            )
        try:
            _probe(url, 2.0)
        except Exception as exc:  # not yet listening
            last[:] = [f"{type(exc).__name__}: {exc}"]
            return False
        return True

    try:
        wait_until(
            answers,
            deadline.remaining,
            what=f"podman service on {sock}",
            interval=0.2,
            state=lambda: last,
            hint=f"see {state / 'podman.log'}",
        )
    except TimeoutExpired as exc:
        stop_service()
        raise DockerUnavailable(str(exc)) from exc
    return _probe(url, 5.0)


def stop_service(timeout: float = 10.0) -> bool:
    """Ends the service ``start_service`` started (by its pid); False if none was running."""
    _, sock, pid_file, _ = _paths()
    pid = running_service()
    pid_file.unlink(missing_ok=True)
    if pid is None:
        return False
    os.kill(pid, signal.SIGTERM)
    try:
        wait_until(
            lambda: _reaped(pid) or not _pid_alive(pid), timeout, what=f"podman pid {pid} to end"
        )
    except TimeoutExpired:
        os.kill(pid, signal.SIGKILL)
    sock.unlink(missing_ok=True)
    return True


def _reaped(pid: int) -> bool:
    """True once ``pid`` (a child of this process) has exited and been reaped here."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return False
    return done == pid
