"""Conversion of received messages to lines and dead letters (no I/O)."""

from __future__ import annotations

from alertloop.services.ingester.convert import DEAD_LETTER_REASONS, Converter, Received
from alertloop.services.ingester.lineprotocol import LineEncoder
from alertloop.services.ingester.payload import PayloadRules
from alertloop.services.ingester.topics import TopicRouter, parse_template


def converter(*topics: str) -> Converter:
    router = TopicRouter([parse_template(t) for t in topics or ("/pot",)])
    return Converter(router, LineEncoder(), PayloadRules())


def msg(payload: bytes, topic: str = "/pot", t: int = 1000) -> Received:
    return Received(topic, payload, 1, 1, t)


def test_good_and_bad_messages_are_separated() -> None:
    sent = msg(b'{"value": 7, "ts": 1700000000005}', t=1_700_000_000_010_000_000)
    out = converter().convert([msg(b"42"), msg(b"abc"), sent, msg(b"")])
    assert out.data == b"pot value=42i 1000\npot value=7i 1700000000005000000\n"
    assert out.lines == 2
    assert [(d.reason, d.payload, d.topic) for d in out.letters] == [
        ("not_a_number", b"abc", "/pot"),
        ("empty", b"", "/pot"),
    ]


def test_same_receive_time_never_overwrites() -> None:
    out = converter().convert([msg(b"1", t=5), msg(b"2", t=5), msg(b"3", t=4)])
    assert out.data.splitlines() == [b"pot value=1i 5", b"pot value=2i 6", b"pot value=3i 7"]


def test_device_tag_from_template_and_bad_topics() -> None:
    out = converter("s/{device}/pot").convert(
        [
            msg(b"1", "s/a/pot"),
            msg(b"2", "s/b/pot", t=1000),
            msg(b"3", "s/x\\y/pot"),
            msg(b"4", "other"),
        ]
    )
    assert out.data.splitlines() == [b"pot,device=a value=1i 1000", b"pot,device=b value=2i 1000"]
    assert [d.reason for d in out.letters] == ["bad_topic", "bad_topic"]
    assert set(d.reason for d in out.letters) <= set(DEAD_LETTER_REASONS)


def test_device_time_is_checked_against_the_receive_time() -> None:
    now = 1_700_000_000_000_000_000
    ahead = b'{"value": 7, "ts": %d}' % (now // 1_000_000 + 2 * 86_400_000)
    out = converter().convert([msg(ahead, t=now), msg(b'{"value": 7, "ts": 1e-9}', t=now)])
    assert out.lines == 0
    assert [d.reason for d in out.letters] == ["bad_ts", "bad_ts"]
