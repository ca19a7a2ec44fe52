"""``alertloop demo`` in a short mode: its own native stack, the real services, a plot."""

from __future__ import annotations

from pathlib import Path

import pytest

from alertloop.hil.demo.cli import main

pytestmark = pytest.mark.e2e


def test_the_demo_runs_short_passes_and_saves_its_plot(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plot = tmp_path / "out" / "demo.png"
    argv = ["--duration", "12", "--interval", "1", "--faster-than-grafana"]
    code = main([*argv, "--backend", "native", "--plot", str(plot)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert plot.is_file() and plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"plot: {plot}" in out
    assert "mean rose above 50" in out and "mean fell back below 50" in out
    assert "result: PASS" in out
    assert "state=Alerting" in out  # the plain live lines (stdout is not a terminal here)
    assert "faster than Grafana" in out and "--faster-than-grafana" in out
    assert "other rule PotActive: Alerting at" in out  # the second rule fired during the run
    assert "others=PotActive=" in out


def test_an_interval_under_10_s_needs_the_faster_than_grafana_option(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--interval", "1", "--backend", "native"]) == 2
    err = capsys.readouterr().err
    assert "Grafana evaluates every 10 s" in err and "--faster-than-grafana" in err


def test_a_bad_scenario_file_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = tmp_path / "bad.yaml"
    scenario.write_text("steps:\n  - hold: 150\n    for: 2\n")
    assert main(["--scenario", str(scenario), "--backend", "native"]) == 2
    err = capsys.readouterr().err
    assert "bad.yaml" in err and "steps[0]" in err
