"""``alertloop sim alerting``: flags, variables and clear errors (no servers needed)."""

from __future__ import annotations

import pytest

from alertloop.hil.cli import main as alertloop


def test_check_prints_the_provisioned_rule(capsys: pytest.CaptureFixture[str]) -> None:
    assert alertloop(["sim", "alerting", "--check"]) == 0
    out = capsys.readouterr().out
    assert "PotMeanHigh" in out and "mean of" in out and "gt 50" in out and "every 10 s" in out
    assert "PotActive" in out and "loop': 'alertloop" in out  # every provisioned rule


def test_missing_webhook_url_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("ALERTLOOP_WEBHOOK_URL", raising=False)
    assert alertloop(["sim", "alerting", "--interval", "1", "--faster-than-grafana"]) == 2
    assert "ALERTLOOP_WEBHOOK_URL" in capsys.readouterr().err


def test_an_interval_under_10_s_needs_the_faster_than_grafana_option(
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = ["--webhook-url", "http://127.0.0.1:9/alert"]
    assert alertloop(["sim", "alerting", "--interval", "1", *url]) == 2
    err = capsys.readouterr().err
    assert "Grafana evaluates every 10 s" in err and "--faster-than-grafana" in err


def test_bad_provisioning_directory_is_reported(
    capsys: pytest.CaptureFixture[str], tmp_path
) -> None:  # type: ignore[no-untyped-def]
    assert alertloop(["sim", "alerting", "--provisioning", str(tmp_path / "none"), "--check"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_a_non_positive_interval_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    code = alertloop(
        ["sim", "alerting", "--interval", "0", "--webhook-url", "http://127.0.0.1:9/alert"]
    )
    assert code == 2
    assert "interval must be positive" in capsys.readouterr().err
