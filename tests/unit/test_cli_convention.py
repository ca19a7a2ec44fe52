"""Every ``alertloop`` command follows one convention (docs/cli.md).

The commands are found from the ``COMMANDS`` table and each group's ``SUBCOMMANDS``, so a new
command is held to the convention without touching this file.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from alertloop.hil import cli

SHARED = ("MQTT_", "INFLUX_", "LOG_", "WEBHOOK_", "GRAFANA_", "HIL_")
HELP_TAIL = re.compile(r"^(?P<text>.+) \[env: (?P<env>ALERTLOOP_[A-Z0-9_]+); default: [^\]]+\]$")
REST = re.compile(r"``|:[a-z]+:`")


def _walk() -> tuple[list[list[str]], list[list[str]]]:
    """(leaf commands, groups), each as the words after ``alertloop``."""
    leaves: list[list[str]] = []
    groups: list[list[str]] = []
    for name, (module_name, func, _) in cli.COMMANDS.items():
        module = importlib.import_module(module_name)
        subs = getattr(module, "SUBCOMMANDS", None) if func == "main" else None
        if subs:
            groups.append([name])
            leaves += [[name, sub] for sub in subs]
        else:
            leaves.append([name])
    return leaves, groups


LEAVES, GROUPS = _walk()


@pytest.fixture(autouse=True)
def _no_alertloop_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("ALERTLOOP_"):
            monkeypatch.delenv(name)


def _run(argv: list[str]) -> int:
    try:
        return cli.main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)


def _parser_of(
    path: list[str], monkeypatch: pytest.MonkeyPatch
) -> tuple[int, argparse.ArgumentParser]:
    """Run ``alertloop PATH --help`` and catch the parser that printed the help."""
    seen: list[argparse.ArgumentParser] = []
    original = argparse.ArgumentParser.parse_known_args

    def spy(self: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> Any:
        seen.append(self)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(argparse.ArgumentParser, "parse_known_args", spy)
    code = _run([*path, "--help"])
    assert seen, f"alertloop {' '.join(path)} --help built no argparse parser"
    return code, seen[-1]


def _options(parser: argparse.ArgumentParser) -> Iterator[argparse.Action]:
    for action in parser._actions:
        shown = action.option_strings and action.help != argparse.SUPPRESS
        if shown and not isinstance(action, argparse._HelpAction):
            yield action


def _expected_env(path: list[str], flag: str) -> str:
    part = flag.lstrip("-").upper().replace("-", "_")
    if part.startswith(SHARED):
        return f"ALERTLOOP_{part}"
    component = "_".join(word.upper().replace("-", "_") for word in path)
    return f"ALERTLOOP_{component}_{part}"


def _env_of(action: argparse.Action) -> str:
    found = HELP_TAIL.match(" ".join((action.help or "").replace("%%", "%").split()))
    assert found, f"{action.option_strings[0]}: help without '[env: ...; default: ...]'"
    return found["env"]


def _ids(paths: list[list[str]]) -> list[str]:
    return [" ".join(p) for p in paths]


@pytest.mark.parametrize("path", LEAVES, ids=_ids(LEAVES))
def test_help_is_on_stdout_and_shows_every_option_one_way(
    path: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, parser = _parser_of(path, monkeypatch)
    out, err = capsys.readouterr()
    assert code == 0 and err == ""
    assert out.startswith(f"usage: alertloop {' '.join(path)}")
    assert not REST.search(out), f"reST markup in the help: {REST.search(out)}"
    options = list(_options(parser))
    for action in options:
        flag = action.option_strings[0]
        assert flag in out
        assert _env_of(action) == _expected_env(path, flag), flag


@pytest.mark.parametrize("path", LEAVES, ids=_ids(LEAVES))
def test_a_bad_value_names_the_flag_or_the_variable_and_exits_2(
    path: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _, parser = _parser_of(path, monkeypatch)
    capsys.readouterr()
    positionals = [
        (a.choices and list(a.choices)[0]) or "x" for a in parser._actions if not a.option_strings
    ]
    checked = 0
    for action in _options(parser):
        flag, env = action.option_strings[0], _env_of(action)
        typed = action.metavar in ("INT", "NUMBER") or str(action.metavar).startswith("{")
        if typed:
            assert _run([*path, *positionals, flag, "bogus"]) == 2, flag
            assert f"{flag}: " in capsys.readouterr().err, flag
        if typed or action.nargs == 0:
            monkeypatch.setenv(env, "bogus")
            assert _run([*path, *positionals]) == 2, env
            assert f"{env}: " in capsys.readouterr().err, env
            monkeypatch.delenv(env)
            checked += 1
    if not checked:
        pytest.skip(f"alertloop {' '.join(path)} has no typed option to check")


@pytest.mark.parametrize("path", [[], *GROUPS], ids=["alertloop", *_ids(GROUPS)])
def test_a_bare_group_prints_its_help_and_exits_0(
    path: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(path) == 0
    bare = capsys.readouterr()
    assert bare.err == "" and bare.out.startswith("usage: alertloop")
    assert _run([*path, "--help"]) == 0
    assert capsys.readouterr().out == bare.out
    names = (
        list(cli.COMMANDS)
        if not path
        else list(importlib.import_module(cli.COMMANDS[path[0]][0]).SUBCOMMANDS)
    )
    for name in names:
        assert f"  {name} " in bare.out
    assert not REST.search(bare.out)


@pytest.mark.parametrize("path", [["nope"], *[[*g, "nope"] for g in GROUPS]],
                         ids=["alertloop", *_ids(GROUPS)])  # fmt: skip
def test_an_unknown_command_is_a_usage_error(
    path: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(path) == 2
    assert "unknown command 'nope'" in capsys.readouterr().err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    assert _run(["--version"]) == 0
    assert capsys.readouterr().out == f"alertloop {version('alertloop')}\n"


def test_the_walk_sees_every_command() -> None:
    names = {" ".join(p) for p in LEAVES}
    assert {"ingest", "webhook", "stack up", "sim esp32", "sim alerting", "faults proxy"} <= names


def test_docs_cli_lists_every_command() -> None:
    table = (Path(__file__).parents[2] / "docs" / "cli.md").read_text(encoding="utf-8")
    for path in LEAVES:
        assert f"| `alertloop {' '.join(path)}" in table, f"docs/cli.md: no row for {path}"
