"""The dead-letter store: JSON records, base64 for binary payloads, rotation, MQTT copy."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path

import pytest

from alertloop.services.ingester.deadletter import (
    DETAIL_KEEP,
    PAYLOAD_KEEP,
    DeadLetter,
    DeadLetterStore,
)
from alertloop.services.ingester.errors import IngesterError


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


def test_a_large_payload_is_cut_and_fingerprinted(tmp_path: Path) -> None:
    path = tmp_path / "dl.jsonl"
    payload = b"{" + "é".encode() * 600_000  # about 1.2 MB; 'é' is two bytes
    store = DeadLetterStore(path).open()
    store.add(DeadLetter("/pot", payload, "too_long", "x" * 5000, 0))
    store.flush()
    (record,) = records(path)
    assert record["truncated"] is True
    assert record["payload_bytes"] == len(payload)
    assert record["payload_sha256"] == hashlib.sha256(payload).hexdigest()
    kept = str(record["payload"]).encode()
    assert payload.startswith(kept) and PAYLOAD_KEEP - 2 <= len(kept) <= PAYLOAD_KEEP
    assert len(str(record["detail"])) == DETAIL_KEEP
    assert path.stat().st_size < 2 * PAYLOAD_KEEP + DETAIL_KEEP + 400
    store.close()


def test_a_small_payload_record_has_no_truncation_fields(tmp_path: Path) -> None:
    record = DeadLetter("/pot", b"x" * PAYLOAD_KEEP, "too_long", "", 0).to_dict()
    assert "truncated" not in record and "payload_sha256" not in record


def test_a_binary_payload_is_cut_too() -> None:
    payload = bytes(range(256)) * 10
    record = DeadLetter("/pot", payload, "not_utf8", "", 0).to_dict()
    assert base64.b64decode(str(record["payload_b64"])) == payload[:PAYLOAD_KEEP]
    assert record["payload_bytes"] == len(payload)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
def test_a_full_disk_raises_and_the_store_stays_usable() -> None:
    store = DeadLetterStore(Path("/dev/full"), max_bytes=100).open()
    for _ in range(3):  # every failure is reported, none is silent, nothing is renamed
        with pytest.raises(IngesterError, match="No space left on device"):
            store.add(DeadLetter("/pot", b"x" * 200, "too_long", "", 0))
            store.flush()
    assert os.path.exists("/dev/full")
    store.close()


def test_records_after_a_failure_are_written_when_the_file_works_again(tmp_path: Path) -> None:
    path = tmp_path / "dl.jsonl"
    store = DeadLetterStore(path).open()
    store.add(DeadLetter("/pot", b"lost", "not_a_number", "", 0))
    os.close(store._file.fileno())  # type: ignore[union-attr]  # the file breaks under it
    with pytest.raises(IngesterError):
        store.flush()
    store.add(DeadLetter("/pot", b"kept", "not_a_number", "", 0))  # reopens the file
    store.flush()
    assert [r["payload"] for r in records(path)] == ["kept"]
    store.close()
