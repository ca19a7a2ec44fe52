"""``alertloop sim``: dispatch, usage errors, and the lazy hand-over to the alert evaluator."""

from __future__ import annotations

import subprocess
import sys
import types

import pytest

from alertloop.sim import cli


def test_usage_and_unknown_board(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--help"]) == 0
    assert "esp32" in capsys.readouterr().out
    assert cli.main([]) == 0
    assert "fleet" in capsys.readouterr().out
    assert cli.main(["toaster"]) == 2
    assert "unknown command 'toaster'" in capsys.readouterr().err


def test_alerting_is_dispatched_lazily(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[list[str]] = []
    fake = types.ModuleType("alertloop.sim.alerting.cli")
    fake.main = lambda argv: seen.append(argv) or 7  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "alertloop.sim.alerting.cli", fake)
    assert cli.main(["alerting", "--interval", "2"]) == 7
    assert seen == [["--interval", "2"]]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["esp32", "--signal", "wobble:3"], "--signal: unknown signal 'wobble:3'"),
        (["esp32", "--scenario", "/nonexistent/knob.yaml"], "cannot read"),
        (["esp32", "--mqtt-url", "http://x"], "--mqtt-url: MQTT URL 'http://x': scheme"),
        (["esp32", "--period", "0"], "--period: must be positive"),
    ],
    ids=["signal", "scenario", "url", "period"],
)
def test_bad_settings_exit_2_with_a_message(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(argv) == 2
    assert message in capsys.readouterr().err


def test_importing_the_sim_cli_leaves_the_evaluator_alone() -> None:
    code = "import sys, sim.cli; print(any(m.startswith('alertloop.sim.alerting') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
