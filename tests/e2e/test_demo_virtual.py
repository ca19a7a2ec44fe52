"""``alertloop demo --boards virtual``: the demo on the real sketches built for Linux."""

from __future__ import annotations

from pathlib import Path

import pytest

from alertloop.hil.demo.cli import main

pytestmark = pytest.mark.e2e


def test_the_demo_runs_on_virtual_boards(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plot = tmp_path / "demo.png"
    argv = ["--duration", "12", "--interval", "1", "--faster-than-grafana"]
    argv += ["--backend", "native", "--quiet"]
    code = main([*argv, "--boards", "virtual", "--plot", str(plot)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "mean rose above 50" in out and "mean fell back below 50" in out
    assert "result: PASS" in out
