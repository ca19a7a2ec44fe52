"""OS locks that make a spool directory, and a client id on one host, belong to one process.

``fcntl.flock`` on a lock file, held for as long as the file stays open: the kernel releases it
when the process ends however it ends (SIGKILL included), so a stale lock cannot exist and
nothing has to be cleaned up. The holder writes its pid and names into the file so that a
second process can say who has it.

A lock file in a directory of its own (the spool's ``lock``) is kept. One among many (the
client id locks) is removed on release, so they do not pile up; ``acquire`` then checks that
the file it locked is still the one at ``path`` and starts over if it was removed meanwhile,
so two processes can never each hold a different file of the same name.

flock works between processes of one host, containers sharing a volume included; it is not
reliable on network file systems, which a spool should not be on anyway.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
from pathlib import Path

from alertloop.services.ingester.errors import LockHeld

__all__ = ["ProcessLock"]


class ProcessLock:
    """An exclusive lock on ``path``; ``acquire`` raises LockHeld naming the holder."""

    def __init__(self, path: Path, *, remove_on_release: bool = False) -> None:
        self.path = Path(path)
        self.remove_on_release = remove_on_release
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self, describe: str, **info: object) -> ProcessLock:
        """Take the lock without waiting and record ``info`` (and this pid) in the file.

        ``describe`` names what is locked, for the error. Raises LockHeld when another process
        (or another ``ProcessLock`` on the same file in this process) holds it, OSError when
        the file cannot be created.
        """
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                if self._still_there(fd):
                    break
            except BlockingIOError:
                holder = _read(fd)
                os.close(fd)
                pid = holder.get("pid", "unknown")
                raise LockHeld(
                    f"{describe} is in use by another ingester (pid {pid})", holder
                ) from None
            except BaseException:
                os.close(fd)
                raise
            os.close(fd)  # removed by its last holder after we opened it: take the new one
        record = {"pid": os.getpid(), "host": socket.gethostname(), **info}
        with contextlib.suppress(OSError):  # the lock counts, the note in it is a courtesy
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(record).encode() + b"\n", 0)
        self._fd = fd
        return self

    def release(self) -> None:
        """Release the lock (closing the file does it). Safe to call when not held."""
        if self._fd is not None:
            if self.remove_on_release and self._still_there(self._fd):
                with contextlib.suppress(OSError):
                    self.path.unlink()  # while still locked: see the module docstring
            os.close(self._fd)
            self._fd = None

    def _still_there(self, fd: int) -> bool:
        try:
            return os.stat(self.path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            return False


def _read(fd: int) -> dict[str, object]:
    try:
        doc = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}
