"""A command's parser, help and reading, built from its options; command groups.

A :class:`Command` turns its :class:`~alertloop.services.common.settings.Option` list into an
argparse parser whose help shows every option the same way
(``... [env: ALERTLOOP_INGEST_BATCH_SIZE; default: 5000]``) and reads them flag first, then
variable, then default (``parse``). ``run_group`` dispatches a group such as ``alertloop sim``:
bare or with ``--help`` it prints its subcommands and exits 0. See docs/cli.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import os
import sys
import textwrap
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NoReturn

from alertloop.services.common.errors import ConfigError
from alertloop.services.common.settings import (
    METAVARS,
    Option,
    Values,
    component_of,
    env_name,
    file_dest,
    old_dest,
    resolve,
)

__all__ = ["Command", "group_usage", "run_group"]


class _Formatter(argparse.HelpFormatter):
    """argparse's layout, without breaking flag names at their hyphens."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=34, width=100)

    def _split_lines(self, text: str, width: int) -> list[str]:
        return textwrap.wrap(" ".join(text.split()), width, break_on_hyphens=False)

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        return textwrap.fill(
            " ".join(text.split()), width, initial_indent=indent, subsequent_indent=indent,
            break_on_hyphens=False,
        )  # fmt: skip


class _Parser(argparse.ArgumentParser):
    """Usage errors go to stderr and exit 2, as argparse does; help goes to stdout."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: {message}\n")


class Command:
    """A command's options: its parser, its help, and the reading of flags and variables."""

    def __init__(
        self,
        prog: str,
        description: str,
        options: Sequence[Option],
        epilog: str | None = None,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        self.prog = prog
        self.description = description
        self.epilog = epilog
        self.component = component_of(prog)
        self._warn = warn
        filled = []
        for option in options:
            if option.env is None and not option.positional:
                flag = option.flag or option.file_flag
                assert flag is not None, option
                if option.file_flag and not option.flag:
                    flag = flag.removesuffix("-file")
                option = dataclasses.replace(option, env=env_name(self.component, flag))
            filled.append(option)
        self.options: tuple[Option, ...] = tuple(filled)
        names = [o.name for o in self.options]
        assert len(names) == len(set(names)), f"{prog}: an option name twice: {names}"

    # -- help ---------------------------------------------------------------------------
    def _help(self, option: Option, env: str | None, default: str) -> str:
        text = f"{option.help} [env: {env}; default: {default}]"
        return text.replace("%", "%%")

    def parser(self) -> argparse.ArgumentParser:
        """The argparse parser: every default None, so the variables can fill in."""
        parser = _Parser(
            prog=self.prog,
            description=self.description,
            epilog=self.epilog,
            formatter_class=_Formatter,
        )
        groups: dict[str, Any] = {}
        for option in self.options:
            target: Any = parser
            if option.group:
                if option.group not in groups:
                    groups[option.group] = parser.add_argument_group(option.group)
                target = groups[option.group]
            self._add(target, option)
        return parser

    def _metavar(self, option: Option) -> str | None:
        if option.metavar:
            return option.metavar
        if option.choices:
            return "{" + ",".join(str(c) for c in option.choices) + "}"
        return METAVARS.get(option.type)

    def _add(self, target: Any, option: Option) -> None:
        if option.positional:
            choices = option.choices or None
            target.add_argument(option.name, metavar=option.metavar, choices=choices,
                                help=option.help)  # fmt: skip
            return
        metavar = self._metavar(option)
        if option.flag:
            kwargs: dict[str, Any] = {
                "dest": option.name,
                "default": None,
                "help": self._help(option, option.env, option.shown_default()),
            }
            if option.boolean:
                kwargs.update(action="store_const", const="1")
            else:
                kwargs.update(metavar=metavar, action="append" if option.multiple else "store")
            target.add_argument(option.flag, **kwargs)
            for old in option.old_flags:
                kwargs = {**kwargs, "dest": old_dest(option, old)}
                target.add_argument(old, **{**kwargs, "help": argparse.SUPPRESS})
        if option.file_flag:
            if option.file_help:
                text = option.file_help
            elif option.flag:
                text = f"file whose first line is the {option.help}"
            else:
                text = option.help
            if f"{option.env} " not in f"{text} ":
                text += f" (or the value itself in {option.env})"
            target.add_argument(
                option.file_flag,
                dest=file_dest(option),
                metavar="FILE",
                default=None,
                help=self._help(dataclasses.replace(option, help=text), option.file_env, "none"),
            )

    # -- reading ------------------------------------------------------------------------
    def parse(self, argv: Sequence[str], environ: Mapping[str, str] | None = None) -> Values:
        """Flags, then variables, then defaults, converted and checked.

        ``--help`` prints the help on stdout and exits 0; an unknown flag exits 2 (argparse).
        Raises ConfigError naming the flag or variable for a bad value.
        """
        flags = vars(self.parser().parse_args(list(argv)))
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        sources: dict[str, str] = {}
        for option in self.options:
            value, source = resolve(option, flags, env, self._warn_deprecated)
            values[option.name] = value
            sources[option.name] = source
        for option in self.options:
            if option.required and values[option.name] in (None, []):
                wanted = option.flag or option.file_flag
                raise ConfigError(f"{wanted} is required (or {option.env})")
        secrets = frozenset(o.name for o in self.options if o.secret)
        return Values(values, sources, secrets)

    def _warn_deprecated(self, old: str, new: str | None) -> None:
        """Say on stderr (or to ``warn``) that ``old`` is deprecated for ``new``."""
        text = f"{self.prog}: warning: {old} is deprecated; use {new}"
        if self._warn is not None:
            self._warn(text)
        else:
            print(text, file=sys.stderr, flush=True)


def group_usage(
    prog: str, description: str, subcommands: Mapping[str, tuple[str, str, str]]
) -> str:
    """The help of a command group: its subcommands, one line each."""
    width = max(len(name) for name in subcommands)
    lines = [f"usage: {prog} COMMAND [options]", "", description, "", "commands:"]
    lines += [f"  {name.ljust(width)}  {text}" for name, (_, _, text) in subcommands.items()]
    lines += ["", f"'{prog} COMMAND --help' tells more."]
    return "\n".join(lines)


def run_group(
    prog: str,
    description: str,
    subcommands: Mapping[str, tuple[str, str, str]],
    argv: Sequence[str],
) -> int:
    """Dispatch ``argv`` to a subcommand (``name -> (module, function, help)``, imported only
    when used). Bare or with ``--help``: the help on stdout, exit 0; an unknown subcommand:
    the help on stderr, exit 2."""
    args = list(argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(group_usage(prog, description, subcommands))
        return 0
    name, rest = args[0], args[1:]
    if name not in subcommands:
        usage = group_usage(prog, description, subcommands)
        print(f"{prog}: unknown command {name!r}\n\n{usage}", file=sys.stderr)
        return 2
    module_name, func_name, _ = subcommands[name]
    func = getattr(importlib.import_module(module_name), func_name)
    return int(func(rest) or 0)
