"""The dead-letter store: JSON records, base64 for binary payloads, rotation, MQTT copy."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from services.ingester.deadletter import DeadLetter, DeadLetterStore


def records(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_records_carry_topic_payload_reason_and_time(tmp_path: Path) -> None:
    path = tmp_path / "dl.jsonl"
    store = DeadLetterStore(path).open()
    store.add(
        DeadLetter(
            "/pot", b"abc", "not_a_number", "'abc' is not a number", 1_700_000_000_123_456_789
        )
    )
    store.add(DeadLetter("/pot", b"\xff\x00", "not_utf8", "invalid", 1_700_000_000_000_000_000))
    store.flush()
    first, second = records(path)
    assert first == {
        "time": "2023-11-14T22:13:20.123457Z",
        "topic": "/pot",
        "reason": "not_a_number",
        "detail": "'abc' is not a number",
        "payload": "abc",
    }
    assert "payload" not in second and base64.b64decode(second["payload_b64"]) == b"\xff\x00"  # type: ignore[arg-type]
    assert store.count == 2
    store.close()


def test_rotates_at_the_size_bound(tmp_path: Path) -> None:
    path = tmp_path / "dl.jsonl"
    store = DeadLetterStore(path, max_bytes=300).open()
    for i in range(10):
        store.add(DeadLetter("/pot", b"x" * 20, "not_a_number", str(i), 0))
    store.close()
    assert path.with_name("dl.jsonl.1").exists()
    assert path.stat().st_size <= 300
    assert records(path)[-1]["detail"] == "9"


def test_publishes_to_a_topic_too(tmp_path: Path) -> None:
    sent: list[tuple[str, bytes]] = []
    store = DeadLetterStore(None, topic="dl/pot", publish=lambda t, p: sent.append((t, p))).open()
    store.add(DeadLetter("/pot", b"", "empty", "payload is empty", 0))
    assert [t for t, _ in sent] == ["dl/pot"]
    assert json.loads(sent[0][1])["reason"] == "empty"
