"""Lifecycle: ``start()``/``stop()`` objects as context managers that clean up after a failed start."""

from __future__ import annotations

from types import TracebackType
from typing import Any, Self


class Lifecycle:
    """Mixin for objects with ``start()`` (returning self) and ``stop()``.

    ``with obj:`` starts it, and stops it on leaving; when ``start()`` raises, ``stop()`` still
    runs, so a half-started object releases what it had already taken. ``stop()`` must
    therefore be safe to call on an object that never fully started.
    """

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> Any:
        raise NotImplementedError

    def __enter__(self) -> Self:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
