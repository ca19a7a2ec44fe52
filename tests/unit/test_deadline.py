"""Deadlines and waiting with an explaining timeout."""

import pytest

from alertloop.services.common.deadline import Deadline, wait_until
from alertloop.services.common.errors import TimeoutExpired


def test_deadline_counts_down() -> None:
    deadline = Deadline(10)
    assert 9 < deadline.remaining <= 10
    assert not deadline.expired
    assert Deadline(0).expired


def test_wait_until_returns_the_truthy_value() -> None:
    values = iter([0, 0, 7])
    assert wait_until(lambda: next(values), 1.0, what="a value") == 7


def test_wait_until_timeout_explains_itself() -> None:
    with pytest.raises(
        TimeoutExpired, match=r"waiting for the answer; last seen: 'nope'; hint: ask again"
    ):
        wait_until(lambda: None, 0.05, what="the answer", state=lambda: "nope", hint="ask again")
