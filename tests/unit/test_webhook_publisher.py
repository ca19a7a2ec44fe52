"""The publisher's group commit, without a broker: one publish in flight, newest state wins.

The round trip is replaced by a gate the test opens, so that requests arrive while a publish
is in flight; everything is waited for by condition, never by time.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import pytest

from alertloop.services.common.config import MqttSettings
from alertloop.services.common.deadline import Deadline, wait_until
from alertloop.services.webhook.errors import PublishError
from alertloop.services.webhook.payloads import Decision
from alertloop.services.webhook.publisher import MqttPublisher, PublishResult, _Waiter


class GatedPublisher(MqttPublisher):
    """A publisher whose round trips wait for the test: ``answers`` holds None (acknowledged)
    or an error text for each publish, in order."""

    def __init__(self, timeout: float = 10.0) -> None:
        super().__init__(MqttSettings("127.0.0.1"), "t/alert", timeout=timeout)
        self.sent: list[str] = []
        self.senders: list[threading.Thread] = []  # the thread of each publish
        self.in_flight = threading.Event()
        self.answers: queue.Queue[str | None] = queue.Queue()
        self._connected.set()
        self._keeper = threading.current_thread()  # counts as started; no connection is made

    def _publish_and_wait(self, value: str, deadline: Deadline) -> str | None:
        self.sent.append(value)
        self.senders.append(threading.current_thread())
        self.in_flight.set()
        answer = self.answers.get(timeout=10)
        self.in_flight.clear()
        return answer


def _legacy(value: str) -> Decision:
    return Decision("legacy", value, f"state {value}")


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(4) as executor:
        yield executor


def _submit_waiting(
    pool: ThreadPoolExecutor, pub: GatedPublisher, value: str, waiters: int
) -> Future[PublishResult]:
    future = pool.submit(pub.publish, _legacy(value))
    wait_until(lambda: len(pub._waiters) == waiters, 5, what=f"{waiters} waiting request(s)")
    return future


def test_requests_during_a_publish_share_the_next_one_and_the_newest_wins(
    pool: ThreadPoolExecutor,
) -> None:
    pub = GatedPublisher()
    first = pool.submit(pub.publish, _legacy("1"))
    assert pub.in_flight.wait(5)
    second = _submit_waiting(pool, pub, "0", 1)
    third = _submit_waiting(pool, pub, "1", 2)
    pub.answers.put(None)  # the first publish ("1") is acknowledged
    pub.answers.put(None)  # one more publish covers the two that waited
    assert first.result(5).outcome == "published"
    assert second.result(5).outcome == "superseded"  # covered by the newer "1"
    assert third.result(5).outcome == "published"
    assert pub.sent == ["1", "1"]
    assert pub.publishes == 2 and pub._waiters == [] and not pub._sending


def test_a_failed_publish_fails_every_waiting_request(pool: ThreadPoolExecutor) -> None:
    pub = GatedPublisher()
    first = pool.submit(pub.publish, _legacy("1"))
    assert pub.in_flight.wait(5)
    second = _submit_waiting(pool, pub, "0", 1)
    pub.answers.put("connection lost")
    for request in (first, second):
        with pytest.raises(PublishError, match="connection lost"):
            request.result(5)
    # Nothing waits to be sent after the failure (never an empty or stale value later).
    assert pub.sent == ["1"] and not pub._sending and pub.guard.value is None
    pub.answers.put(None)
    assert pub.publish(_legacy("0")).outcome == "published"
    assert pub.sent == ["1", "0"]


def test_a_waiter_gives_up_at_its_deadline(pool: ThreadPoolExecutor) -> None:
    pub = GatedPublisher(timeout=0.3)
    first = pool.submit(pub.publish, _legacy("1"))
    assert pub.in_flight.wait(5)
    second = pool.submit(pub.publish, _legacy("0"))
    with pytest.raises(PublishError, match="no acknowledgement"):
        second.result(5)
    assert pub._waiters == []
    pub.answers.put(None)
    assert first.result(5).outcome == "published"
    assert not pub._sending


def test_unchanged_and_not_connected_never_publish() -> None:
    pub = GatedPublisher()
    assert pub.publish(Decision("legacy", None, "pending")).outcome == "unchanged"
    pub._connected.clear()
    with pytest.raises(PublishError, match="not connected"):
        pub.publish(_legacy("1"))
    assert pub.sent == []


def test_the_requests_one_publish_covers_are_all_answered(pool: ThreadPoolExecutor) -> None:
    pub = GatedPublisher()
    first = pool.submit(pub.publish, _legacy("1"))
    assert pub.in_flight.wait(5)
    with ThreadPoolExecutor(5) as more:
        waiting = [more.submit(pub.publish, _legacy(v)) for v in ("0", "1", "0", "1", "0")]
        wait_until(lambda: len(pub._waiters) == 5, 5, what="5 waiting requests")
        pub.answers.put(None)  # "1"; the oldest waiting request is handed the role
        pub.answers.put(None)  # its publish of the newest ("0") covers all five
        # They are woken one after another, each by the one before it.
        outcomes = [w.result(5).outcome for w in waiting]
    assert first.result(5).outcome == "published"
    assert outcomes == ["published", "superseded", "published", "superseded", "published"]
    assert pub.sent == ["1", "0"] and pub._waiters == [] and not pub._sending


class _SignalingLock:
    """A lock that says when someone starts to take it with ``with``."""

    def __init__(self) -> None:
        self.inner = threading.Lock()
        self.entered = threading.Event()

    def __enter__(self) -> _SignalingLock:
        self.entered.set()
        self.inner.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.inner.release()


def test_a_covered_request_past_its_deadline_still_wakes_the_next_one(
    pool: ThreadPoolExecutor,
) -> None:
    pub = GatedPublisher()
    signaling = _SignalingLock()
    pub._lock = signaling  # type: ignore[assignment]
    late, after = _Waiter(1), _Waiter(2)
    late.next = after  # both covered by one publish: taken off the list, chained
    waiting = pool.submit(pub._wait, late, Deadline(0.0))
    # Past its deadline it looks for itself on the list (only then is the lock taken) ...
    assert signaling.entered.wait(5)
    late.wake.release()  # ... and, not found there, waits for the one before it in the chain
    waiting.result(5)  # no error: it was covered
    assert after.wake.acquire(timeout=5)  # and it woke the next one
