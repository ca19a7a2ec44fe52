"""Restoring the confirmed state after a publish the broker did not confirm, without a broker.

The MQTT session is replaced by a fake whose publishes wait for the test to answer each one
(``ack``, ``timeout`` or ``lost``); a publish with no time to wait only records that it was
sent, as the real session does. Everything is waited for by condition, never by time.
"""

from __future__ import annotations

import queue
from collections.abc import Iterator

import pytest

from alertloop.services.common.config import MqttSettings
from alertloop.services.common.deadline import wait_until
from alertloop.services.webhook.errors import PublishError, SessionError, SessionTimeout
from alertloop.services.webhook.payloads import Decision
from alertloop.services.webhook.publisher import MqttPublisher


class FakeSession:
    def __init__(self, answers: queue.Queue[str]) -> None:
        self.answers = answers
        self.sent: list[tuple[str, int]] = []
        self.closed = False

    def publish(self, topic: str, payload: bytes, qos: int, timeout: float) -> None:
        self.sent.append((payload.decode(), qos))
        if timeout <= 0 or qos == 0:
            if qos:
                raise SessionTimeout("not waited for")
            return
        try:
            answer = self.answers.get(timeout=timeout)
        except queue.Empty:
            answer = "timeout"
        if answer == "timeout":
            raise SessionTimeout("no acknowledgement in time")
        if answer == "lost":
            raise SessionError("the broker closed the connection")

    def service(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True


class FakeSessionPublisher(MqttPublisher):
    def __init__(self, *, timeout: float = 5.0, keepalive: int = 30, qos: int = 1) -> None:
        super().__init__(
            MqttSettings("127.0.0.1"),
            "t/alert",
            qos=qos,
            timeout=timeout,
            keepalive=keepalive,
            reconnect_delay=(0.01, 0.05),
        )
        self.answers: queue.Queue[str] = queue.Queue()
        self.sessions: list[FakeSession] = []

    def _open(self) -> FakeSession:  # type: ignore[override]
        session = FakeSession(self.answers)
        self.sessions.append(session)
        return session


@pytest.fixture
def pub() -> Iterator[FakeSessionPublisher]:
    publisher = FakeSessionPublisher()
    with publisher:
        publisher.wait_connected(5)
        yield publisher


def _legacy(value: str) -> Decision:
    return Decision("legacy", value, f"state {value}")


def _confirm(pub: FakeSessionPublisher, value: str) -> None:
    pub.answers.put("ack")
    assert pub.publish(_legacy(value)).outcome == "published"
    assert pub.confirmed == value


def test_a_timed_out_publish_is_followed_by_the_confirmed_state_on_the_same_connection(
    pub: FakeSessionPublisher,
) -> None:
    _confirm(pub, "0")
    pub.answers.put("timeout")
    with pytest.raises(PublishError, match="no acknowledgement"):
        pub.publish(_legacy("1"))
    session = pub.sessions[0]
    # Right behind the unconfirmed "1", without waiting: the broker processes them in order.
    assert session.sent[:3] == [("0", 1), ("1", 1), ("0", 1)]
    assert not pub.connected and pub.restoring == "0"
    with pytest.raises(PublishError, match="being restored"):
        pub.publish(_legacy("1"))  # refused at once: nothing is sent before the restore
    pub.answers.put("ack")  # the keeper's publish of "0" is acknowledged
    wait_until(lambda: pub.connected, 5, what="the restored state to be acknowledged")
    assert pub.restoring is None and pub.restores == 1 and pub.confirmed == "0"
    assert session.sent == [("0", 1), ("1", 1), ("0", 1), ("0", 1)]
    assert len(pub.sessions) == 1 and not session.closed
    # The retry of the refused notification applies normally (the guard forgot the state).
    _confirm(pub, "1")
    assert session.sent[-1] == ("1", 1)


def test_nothing_confirmed_yet_means_nothing_to_restore(
    pub: FakeSessionPublisher, caplog: pytest.LogCaptureFixture
) -> None:
    pub.answers.put("timeout")
    with pytest.raises(PublishError, match="no acknowledgement"):
        pub.publish(_legacy("1"))
    assert "publish not confirmed, nothing confirmed to restore" in caplog.text
    assert pub.sessions[0].sent == [("1", 1)] and pub.restoring is None
    wait_until(lambda: len(pub.sessions) == 2 and pub.connected, 5, what="a new connection")
    assert pub.sessions[0].closed and pub.sessions[1].sent == []


def test_the_same_value_unconfirmed_needs_no_restore(pub: FakeSessionPublisher) -> None:
    _confirm(pub, "1")
    pub.answers.put("timeout")
    with pytest.raises(PublishError):
        pub.publish(_legacy("1"))
    assert pub.sessions[0].sent == [("1", 1), ("1", 1)] and pub.restoring is None


def test_a_lost_connection_restores_first_thing_on_the_next_one(
    pub: FakeSessionPublisher,
) -> None:
    _confirm(pub, "0")
    pub.answers.put("lost")
    with pytest.raises(PublishError, match="closed the connection"):
        pub.publish(_legacy("1"))
    assert pub.sessions[0].closed and pub.restoring == "0"
    wait_until(lambda: len(pub.sessions) == 2, 5, what="a new connection")
    assert not pub.connected  # not before the restored state is acknowledged
    pub.answers.put("ack")
    wait_until(lambda: pub.connected, 5, what="the restore on the new connection")
    assert pub.sessions[0].sent == [("0", 1), ("1", 1)]
    assert pub.sessions[1].sent == [("0", 1)] and pub.restores == 1


def test_a_restore_unacknowledged_for_the_keepalive_moves_to_a_new_connection() -> None:
    pub = FakeSessionPublisher(timeout=0.2, keepalive=0)
    with pub:
        pub.wait_connected(5)
        _confirm(pub, "0")
        pub.answers.put("timeout")
        with pytest.raises(PublishError):
            pub.publish(_legacy("1"))
        # No answer: the keeper's tries time out, then it gives the connection up.
        wait_until(lambda: len(pub.sessions) >= 2, 5, what="the connection to be replaced")
        pub.answers.put("ack")
        wait_until(lambda: pub.connected, 5, what="the restore on a new connection")
        first, last = pub.sessions[0], pub.sessions[-1]
        assert first.closed and first.sent[:3] == [("0", 1), ("1", 1), ("0", 1)]
        assert set(first.sent[3:]) <= {("0", 1)} and last.sent == [("0", 1)]


def test_qos2_queues_the_restore_at_qos1_and_confirms_it_at_qos2() -> None:
    pub = FakeSessionPublisher(qos=2)
    with pub:
        pub.wait_connected(5)
        _confirm(pub, "0")
        pub.answers.put("timeout")
        with pytest.raises(PublishError):
            pub.publish(_legacy("1"))
        pub.answers.put("ack")
        wait_until(lambda: pub.connected, 5, what="the restore")
        assert pub.sessions[0].sent == [("0", 2), ("1", 2), ("0", 1), ("0", 2)]
