"""The ``alertloop`` dispatcher."""

import pytest

from alertloop.hil import cli


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in cli.COMMANDS:
        assert name in out


def test_unknown_command_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["nope"]) == 2
    assert "unknown command 'nope'" in capsys.readouterr().err


def test_every_command_points_at_a_module_path() -> None:
    for module, func, _ in cli.COMMANDS.values():
        assert module.count(".") >= 1 and func.isidentifier()
