"""The ordering guard: older news of a rule never undoes newer news of the same rule."""

from __future__ import annotations

from datetime import UTC, datetime

from alertloop.services.webhook.examples import at, unified, unified_alert
from alertloop.services.webhook.guard import StateGuard
from alertloop.services.webhook.payloads import Decision, RuleNews, decide


def _d(value: str | None, seconds: float | None, rule: str = "a") -> Decision:
    when = at(seconds) if seconds is not None else None
    news = (RuleNews(rule, value == "1", when),)
    return Decision("unified", value, "test", when, rules=news)


def _guard(now: float = 3600) -> StateGuard:
    return StateGuard(clock=lambda: at(now))


def test_older_news_of_the_same_rule_is_stale_newer_is_not() -> None:
    guard = _guard()
    assert not guard.is_stale(_d("1", 30))
    guard.record(_d("1", 30))
    assert guard.is_stale(_d("0", 20))
    assert not guard.is_stale(_d("0", 30))
    assert not guard.is_stale(_d("0", 40))


def test_older_news_of_another_rule_is_not_stale() -> None:
    guard = _guard()
    guard.record(_d("0", 300, rule="a"))  # rule a resolved at 300
    # Rule b started firing at 100 (notified late, or grouped apart): not older than b's news.
    assert not guard.is_stale(_d("1", 100, rule="b"))
    guard.record(_d("1", 100, rule="b"))
    assert guard.time_of("a") == at(300) and guard.time_of("b") == at(100)
    assert guard.is_stale(_d("0", 50, rule="b"))


def test_same_value_is_never_stale_and_keeps_newest_time() -> None:
    guard = _guard()
    guard.record(_d("1", 30))
    assert not guard.is_stale(_d("1", 10))
    guard.record(_d("1", 10))
    assert guard.time_of("a") == at(30)
    guard.record(_d("1", 50))
    assert guard.is_stale(_d("0", 40))


def test_timeless_notifications_always_apply() -> None:
    guard = _guard()
    guard.record(_d("1", 30))
    assert not guard.is_stale(_d("0", None))
    guard.record(_d("0", None))
    assert guard.value == "0" and guard.time_of("a") == at(30)


def test_future_times_are_clamped_to_the_clock() -> None:
    """A startsAt in the year 9999 counts as "now" and cannot block later news for good."""
    now = [at(100)]
    guard = StateGuard(clock=lambda: now[0])
    far = datetime(9999, 12, 31, 23, 59, tzinfo=UTC)
    future = Decision("unified", "1", "t", far, rules=(RuleNews("a", True, far),))
    guard.record(future)
    assert guard.time_of("a") == at(100)
    now[0] = at(160)
    assert not guard.is_stale(_d("0", 150))  # newer than the clamped time
    assert guard.is_stale(_d("0", 90))  # genuinely older news stays stale


def test_forget_keeps_the_rules_news() -> None:
    guard = _guard()
    guard.record(_d("1", 30))
    guard.forget()
    assert guard.value is None
    assert not guard.is_stale(_d("1", 30))  # a retry of the failed notification applies
    assert guard.is_stale(_d("0", 1))  # older news of the rule is still stale


def test_rule_memory_is_bounded() -> None:
    guard = StateGuard(clock=lambda: at(10_000), max_rules=3)
    for i in range(5):
        guard.record(_d("1", i, rule=f"r{i}"))
    assert guard.time_of("r0") is None and guard.time_of("r4") == at(4)


def test_decisions_carry_one_news_per_matching_alert() -> None:
    body = unified(
        unified_alert("resolved", starts=at(0), ends=at(60), device="d1"),
        unified_alert("firing", starts=at(30), device="d2"),
        unified_alert("firing", name="Other rule", starts=at(90)),
    )
    decision = decide(body)
    assert decision.value == "1"
    assert sorted((n.firing, n.time) for n in decision.rules) == [
        (False, at(60)),
        (True, at(30)),
    ]
    assert len({n.key for n in decision.rules}) == 2
