"""The ordering guard: an older notification never undoes a newer state."""

from __future__ import annotations

from services.webhook.examples import at
from services.webhook.guard import StateGuard
from services.webhook.payloads import Decision


def _d(value: str | None, seconds: float | None) -> Decision:
    return Decision("unified", value, "test", at(seconds) if seconds is not None else None)


def test_older_change_is_stale_newer_is_not() -> None:
    guard = StateGuard()
    assert not guard.is_stale(_d("1", 30))
    guard.record(_d("1", 30))
    assert guard.is_stale(_d("0", 20))
    assert not guard.is_stale(_d("0", 30))
    assert not guard.is_stale(_d("0", 40))


def test_same_value_is_never_stale_and_keeps_newest_time() -> None:
    guard = StateGuard()
    guard.record(_d("1", 30))
    assert not guard.is_stale(_d("1", 10))
    guard.record(_d("1", 10))
    assert guard.time == at(30)
    guard.record(_d("1", 50))
    assert guard.is_stale(_d("0", 40))


def test_timeless_notifications_always_apply_and_clear_time() -> None:
    guard = StateGuard()
    guard.record(_d("1", 30))
    assert not guard.is_stale(_d("0", None))
    guard.record(_d("0", None))
    assert guard.time is None
    assert not guard.is_stale(_d("1", 5))


def test_forget() -> None:
    guard = StateGuard()
    guard.record(_d("1", 30))
    guard.forget()
    assert not guard.is_stale(_d("0", 1))
