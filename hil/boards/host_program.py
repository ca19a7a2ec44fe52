"""A host-built sketch as a process: build it when missing (``make -C firmware host``), start
it with the broker and topic prefix in its environment and ``ALERTLOOP_SERIAL=pty``, read the
pty path it prints, log its stdout, and stop it by its pid (SIGTERM, then SIGKILL)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import IO

from alertloop.services.common.config import MqttSettings
from alertloop.services.common.deadline import wait_until
from alertloop.sim.board_api.protocol import BoardError

__all__ = ["FIRMWARE_DIR", "HostFirmware", "VirtualBoardError", "binary_path", "ensure_built"]

FIRMWARE_DIR = Path(__file__).resolve().parents[2] / "firmware"
BUILD_HINT = (
    "build them with `make -C firmware host` (needs a C++ compiler and libmosquitto-dev: "
    "apt-get install g++ make libmosquitto-dev)"
)
PTY_LINE = re.compile(r"^#HW pty path=(\S+)")
START_TIMEOUT = 10.0
STOP_TIMEOUT = 3.0
_build_lock = threading.Lock()


class VirtualBoardError(BoardError):
    """A host-built sketch cannot be built, started, or did not come up."""


def binary_path(name: str, firmware_dir: Path = FIRMWARE_DIR) -> Path:
    """Where ``make -C firmware host`` puts the program of sketch ``name``."""
    return firmware_dir / "host" / "build" / name


def ensure_built(names: tuple[str, ...], firmware_dir: Path = FIRMWARE_DIR) -> None:
    """Build the host programs when any of ``names`` is missing.

    Raises VirtualBoardError, saying how to build them, when the build fails or is impossible."""
    with _build_lock:
        missing = [n for n in names if not os.access(binary_path(n, firmware_dir), os.X_OK)]
        if not missing:
            return
        makefile = firmware_dir / "host" / "Makefile"
        if not makefile.exists() and not (firmware_dir / "Makefile").exists():
            raise VirtualBoardError(
                f"the host build of the sketches is missing ({', '.join(missing)}) and "
                f"{firmware_dir} has no host build to run; {BUILD_HINT}"
            )
        try:
            done = subprocess.run(
                ["make", "-C", str(firmware_dir), "host"],
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise VirtualBoardError(f"cannot build the host firmware: {exc}; {BUILD_HINT}") from exc
        still = [n for n in names if not os.access(binary_path(n, firmware_dir), os.X_OK)]
        if done.returncode != 0 or still:
            output = (done.stdout + done.stderr).strip().splitlines()[-15:]
            raise VirtualBoardError(
                f"`make -C {firmware_dir} host` failed (exit {done.returncode}); missing: "
                f"{', '.join(still) or 'none'}; last output:\n  "
                + "\n  ".join(output)
                + f"\n{BUILD_HINT}"
            )


class HostFirmware:
    """One run of a host-built sketch: the process, its pty path, its stdout/stderr log."""

    def __init__(
        self,
        program: str,
        mqtt: MqttSettings,
        *,
        topic_prefix: str = "",
        client_id: str,
        firmware_dir: Path = FIRMWARE_DIR,
        log_dir: Path | None = None,
    ) -> None:
        self.program = program
        self.mqtt = mqtt
        self.topic_prefix = topic_prefix
        self.client_id = client_id
        self.firmware_dir = firmware_dir
        self.log_dir = log_dir
        self._own_dir: Path | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.pty_path: str | None = None
        self.log_path: Path | None = None
        self._reader: threading.Thread | None = None
        self._log: IO[str] | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def environment(self) -> dict[str, str]:
        """The variables the host core reads (the sketches' ``secrets.h`` on a board)."""
        env = dict(os.environ)
        env.update(
            ALERTLOOP_SERIAL="pty",
            ALERTLOOP_MQTT_HOST=self.mqtt.host,
            ALERTLOOP_MQTT_PORT=str(self.mqtt.port),
            ALERTLOOP_MQTT_USER=self.mqtt.username or "",
            ALERTLOOP_MQTT_PASSWORD=self.mqtt.password or "",
            ALERTLOOP_TOPIC_PREFIX=self.topic_prefix,
            ALERTLOOP_CLIENT_ID=self.client_id,
        )
        return env

    def start(self, timeout: float = START_TIMEOUT) -> str:
        """Build if needed, start the program and return its pty path.

        Raises VirtualBoardError when it cannot be built or started, or prints no pty path
        within ``timeout``."""
        ensure_built((self.program,), self.firmware_dir)
        log_dir = self.log_dir
        if log_dir is None:  # a directory of its own, removed again by stop()
            log_dir = self._own_dir = Path(tempfile.mkdtemp(prefix="alertloop-virtual-"))
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"{self.program}-{self.client_id}.out"
        self._log = open(self.log_path, "w", encoding="utf-8")  # noqa: SIM115
        try:
            self.process = subprocess.Popen(
                [str(binary_path(self.program, self.firmware_dir))],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=self.environment(),
                start_new_session=True,
            )
        except OSError as exc:
            raise VirtualBoardError(f"cannot start {self.program}: {exc}; {BUILD_HINT}") from exc
        found = threading.Event()
        self._reader = threading.Thread(
            target=self._read_stdout, args=(found,), name=f"stdout-{self.program}", daemon=True
        )
        self._reader.start()
        process = self.process
        wait_until(
            lambda: found.is_set() or process.poll() is not None,
            timeout,
            what=f"{self.program} to print its pty path ('#HW pty path=...')",
            state=self._tail,
            hint=f"run {binary_path(self.program, self.firmware_dir)} with ALERTLOOP_SERIAL=pty",
        )
        if self.pty_path is None:
            raise VirtualBoardError(
                f"{self.program} exited with {process.poll()} before opening its pty; "
                f"output: {self._tail()}"
            )
        return self.pty_path

    def _read_stdout(self, found: threading.Event) -> None:
        assert self.process is not None and self.process.stdout is not None
        for raw in self.process.stdout:
            text = raw.decode("utf-8", "replace").rstrip("\r\n")
            log = self._log
            if log is not None and not log.closed:
                log.write(text + "\n")
                log.flush()
            match = PTY_LINE.match(text)
            if match and self.pty_path is None:
                self.pty_path = match.group(1)
                found.set()

    def _tail(self) -> list[str]:
        if self.log_path is None or not self.log_path.exists():
            return []
        return self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-5:]

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, *, hard: bool = False) -> None:
        """SIGTERM (or SIGKILL when ``hard``) to the program's pid; SIGKILL if it has not
        ended within STOP_TIMEOUT. Removes the log directory when it made one itself (no
        ``log_dir`` given). Idempotent."""
        process = self.process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGKILL if hard else signal.SIGTERM)
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(STOP_TIMEOUT)
        if self._reader is not None:
            self._reader.join(STOP_TIMEOUT)
        if self._log is not None:
            self._log.close()
        if self._own_dir is not None:
            shutil.rmtree(self._own_dir, ignore_errors=True)
            self._own_dir = None
