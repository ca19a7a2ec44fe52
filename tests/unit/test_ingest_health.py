"""Conditions: what /healthz reports, and logs that stay short while a condition lasts."""

from __future__ import annotations

import logging

import pytest

from alertloop.services.ingester.health import Conditions

LOG = logging.getLogger("test.conditions")


def test_a_lasting_condition_is_logged_once_then_at_most_every_repeat(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=LOG.name)
    conditions = Conditions(LOG, repeat=3600)
    for _ in range(1000):
        conditions.set("spool_full", "spool holds 10 of 10 bytes")
    assert [r.getMessage() for r in caplog.records] == ["spool_full: spool holds 10 of 10 bytes"]
    assert conditions.snapshot() == {"spool_full": "spool holds 10 of 10 bytes"}
    conditions.clear("spool_full")
    conditions.clear("spool_full")  # already over: nothing more
    assert [r.getMessage() for r in caplog.records][1:] == ["spool_full is over"]
    assert conditions.snapshot() == {}


def test_a_repeat_line_counts_the_times_since_the_last_one(
    caplog: pytest.LogCaptureFixture,
) -> None:
    conditions = Conditions(LOG, repeat=0)
    conditions.set("dead_letter_failing", "disk full", logging.ERROR)
    conditions.set("dead_letter_failing", "disk still full", logging.ERROR)
    first, second = caplog.records
    assert (first.levelno, second.getMessage()) == (logging.ERROR, "dead_letter_failing continues")
    assert second.times == 1 and second.error == "disk still full"  # type: ignore[attr-defined]


def test_a_failure_is_kept_and_shown() -> None:
    conditions = Conditions(LOG)
    assert not conditions.failed.is_set()
    conditions.fail("the writer thread died")
    conditions.fail("a later failure")
    assert conditions.failed.is_set()
    assert conditions.failure == "the writer thread died"
    assert conditions.snapshot() == {"failed": "the writer thread died"}
