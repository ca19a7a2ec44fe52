"""One way to declare, read, show and check a command's options.

Each option is declared once (:class:`Option`): its flag, its variable, its type, default, help
and whether it is a secret. A :class:`Command` turns its options into an argparse parser whose
help shows every option the same way (``... [env: ALERTLOOP_INGEST_BATCH_SIZE; default: 5000]``)
and reads them flag first, then variable, then default. Every conversion and check happens here,
so an error names what the user set: ``--batch-size: ...`` when the flag was given,
``ALERTLOOP_INGEST_BATCH_SIZE: ...`` when the variable was. Secrets are never shown: not in
``repr``, not in errors; each secret variable ``X`` also has ``X_FILE``.

Variables are named ``ALERTLOOP_<COMPONENT>_<FLAG>``, the component being the command's words
after ``alertloop`` (``alertloop sim fleet --rate`` reads ``ALERTLOOP_SIM_FLEET_RATE``). The
shared connection options name their component in the flag already (``--mqtt-url`` reads
``ALERTLOOP_MQTT_URL``). See docs/cli.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import textwrap
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from alertloop.services.common.errors import ConfigError

__all__ = [
    "Command",
    "Option",
    "Values",
    "integer",
    "non_negative",
    "number",
    "parse_bool",
    "positive",
    "read_secret",
    "run_group",
    "runtime_error",
    "usage_error",
]

TRUE = frozenset({"1", "true", "yes", "on"})
FALSE = frozenset({"0", "false", "no", "off"})
REDACTED = "***"
SHARED_PREFIXES = ("MQTT_", "INFLUX_", "LOG_", "WEBHOOK_", "GRAFANA_", "HIL_")


def parse_bool(text: str) -> bool:
    """``1/true/yes/on`` is true, ``0/false/no/off`` is false (any case); anything else raises
    ValueError."""
    word = text.strip().lower()
    if word in TRUE:
        return True
    if word in FALSE:
        return False
    raise ValueError(f"expected 1/true/yes/on or 0/false/no/off, got {text!r}")


def integer(text: str) -> int:
    """``text`` as an int; ValueError says what was expected."""
    try:
        return int(text.strip())
    except ValueError:
        raise ValueError(f"expected an integer, got {text!r}") from None


def number(text: str) -> float:
    """``text`` as a float; ValueError says what was expected."""
    try:
        return float(text.strip())
    except ValueError:
        raise ValueError(f"expected a number, got {text!r}") from None


def positive(value: Any) -> str | None:
    return None if value is None or value > 0 else f"must be positive, not {value}"


def non_negative(value: Any) -> str | None:
    return None if value is None or value >= 0 else f"must not be negative, not {value}"


_METAVARS: dict[Any, str] = {integer: "INT", number: "NUMBER", Path: "PATH"}


def read_secret(path: str | Path, source: str, whole: bool = False) -> str:
    """The first line of a secret file (its whole text when ``whole``).

    Raises ConfigError naming ``source`` and the file, never its contents, when it cannot be
    read or is empty.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise ConfigError(f"{source}: cannot read {path}: {reason}") from None
    secret = text if whole else (text.splitlines()[0] if text else "")
    if not secret.strip():
        raise ConfigError(f"{source}: {path} is empty")
    return secret


@dataclass(frozen=True)
class Option:
    """One option: its flag (``--batch-size``), variable, type, default, help and secrecy.

    ``env`` is filled in by the :class:`Command` from its component unless given (the shared
    connection options give theirs). ``type`` turns the text into the value (raising ValueError
    with a reason); ``check`` returns a complaint about the value or None. ``boolean``: a flag
    without a value, the variable parsed by :func:`parse_bool`. ``multiple``: a repeatable flag,
    a comma-separated variable. ``secret``: never shown; ``file_flag`` names the flag of a file
    that holds it (the variable ``X_FILE`` does the same), and ``flag`` may then be None so the
    secret stays off the command line (``file_help`` describes that flag when ``flag`` is
    given too). ``old_flags`` and ``old_env`` are deprecated names, read
    with a warning; ``alt_env`` are other names read without one. ``positional``: an argument,
    not an option (no variable).
    """

    flag: str | None
    help: str
    type: Callable[[str], Any] = str
    default: Any = None
    env: str | None = None
    secret: bool = False
    file_flag: str | None = None
    file_help: str | None = None
    whole_file: bool = False
    boolean: bool = False
    multiple: bool = False
    choices: tuple[Any, ...] = ()
    metavar: str | None = None
    check: Callable[[Any], str | None] | None = None
    default_text: str | None = None
    required: bool = False
    old_flags: tuple[str, ...] = ()
    old_env: tuple[str, ...] = ()
    alt_env: tuple[str, ...] = ()
    positional: bool = False
    group: str | None = None
    dest: str | None = None

    @property
    def name(self) -> str:
        """The attribute the value is stored under (``batch_size``)."""
        if self.dest:
            return self.dest
        flag = self.flag or (self.file_flag or "").removesuffix("-file")
        return flag.lstrip("-").replace("-", "_")

    @property
    def file_env(self) -> str | None:
        return f"{self.env}_FILE" if self.env and self.file_flag else None

    def with_default(self, default: Any, text: str | None = None) -> Option:
        """A copy with another default (and its text in the help)."""
        return dataclasses.replace(self, default=default, default_text=text)

    def shown_default(self) -> str:
        if self.default_text is not None:
            return self.default_text
        if self.boolean:
            return "true" if self.default else "false"
        if self.default is None or self.default == [] or self.default == ():
            return "none"
        if isinstance(self.default, list | tuple):
            return ",".join(str(v) for v in self.default)
        return str(self.default)


def _env_part(flag: str) -> str:
    return flag.lstrip("-").upper().replace("-", "_")


def component_of(prog: str) -> str:
    """``alertloop sim fleet`` -> ``SIM_FLEET``."""
    words = prog.split()[1:]
    return "_".join(w.upper().replace("-", "_") for w in words)


def env_name(component: str, flag: str) -> str:
    """The variable of ``flag`` in ``component``: ``ALERTLOOP_<COMPONENT>_<FLAG>``, or
    ``ALERTLOOP_<FLAG>`` for the shared options whose flag names their component."""
    part = _env_part(flag)
    if part.startswith(SHARED_PREFIXES):
        return f"ALERTLOOP_{part}"
    return f"ALERTLOOP_{component}_{part}"


class Values(Mapping[str, Any]):
    """The resolved options of one command, with where each came from."""

    def __init__(
        self, values: dict[str, Any], sources: dict[str, str], secrets: frozenset[str]
    ) -> None:
        self._values = values
        self._sources = sources
        self._secrets = secrets

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(name) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def source(self, name: str) -> str:
        """``--flag``, ``ALERTLOOP_...`` or ``default``: where the value of ``name`` came from."""
        return self._sources[name]

    def given(self, name: str) -> bool:
        return self._sources[name] != "default"

    def error(self, name: str, message: str) -> ConfigError:
        """A ConfigError about ``name`` that names what the user set."""
        source = self._sources.get(name, "default")
        if source == "default":
            return ConfigError(f"{name.replace('_', '-')} (default): {message}")
        return ConfigError(f"{source}: {message}")

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{k}={REDACTED if k in self._secrets and v is not None else repr(v)}"
            for k, v in self._values.items()
        )
        return f"Values({shown})"


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
        return _METAVARS.get(option.type)

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
                kwargs = {**kwargs, "dest": f"{option.name}__{_env_part(old)}"}
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
                dest=f"{option.name}__file",
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
        args = self.parser().parse_args(list(argv))
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        sources: dict[str, str] = {}
        for option in self.options:
            value, source = self._resolve(option, args, env)
            values[option.name] = value
            sources[option.name] = source
        for option in self.options:
            if option.required and values[option.name] in (None, []):
                wanted = option.flag or option.file_flag
                raise ConfigError(f"{wanted} is required (or {option.env})")
        secrets = frozenset(o.name for o in self.options if o.secret)
        return Values(values, sources, secrets)

    def _warn_deprecated(self, old: str, new: str | None) -> None:
        text = f"{self.prog}: warning: {old} is deprecated; use {new}"
        if self._warn is not None:
            self._warn(text)
        else:
            print(text, file=sys.stderr, flush=True)

    def _resolve(
        self, option: Option, args: argparse.Namespace, env: Mapping[str, str]
    ) -> tuple[Any, str]:
        if option.positional:
            return self._convert(option, getattr(args, option.name), option.name), option.name
        # 1. flags: the option's own, then its deprecated names, then its file flag
        given = getattr(args, option.name, None) if option.flag else None
        if given is not None:
            return self._from_flag(option, given, option.flag or ""), option.flag or ""
        for old in option.old_flags:
            given = getattr(args, f"{option.name}__{_env_part(old)}", None)
            if given is not None:
                self._warn_deprecated(old, option.flag)
                return self._from_flag(option, given, old), old
        path = getattr(args, f"{option.name}__file", None) if option.file_flag else None
        if path:
            source = option.file_flag or ""
            return self._convert(option, read_secret(path, source, option.whole_file), source), (
                source
            )
        # 2. variables: X_FILE, X, the other names, the deprecated names
        if option.file_env and env.get(option.file_env):
            source = option.file_env
            text = read_secret(env[option.file_env], source, option.whole_file)
            return self._convert(option, text, source), source
        names = [(option.env, False)] + [(n, False) for n in option.alt_env]
        names += [(n, True) for n in option.old_env]
        for name, deprecated in names:
            if name and env.get(name, "") != "":
                if deprecated:
                    self._warn_deprecated(name, option.env)
                return self._from_env(option, env[name], name), name
        # 3. the default
        default = list(option.default) if isinstance(option.default, list) else option.default
        return default, "default"

    def _from_flag(self, option: Option, given: Any, source: str) -> Any:
        if option.boolean:
            return True
        if option.multiple:
            return [self._convert(option, text, source) for text in given]
        return self._convert(option, given, source)

    def _from_env(self, option: Option, text: str, source: str) -> Any:
        if option.boolean:
            try:
                return parse_bool(text)
            except ValueError as exc:
                raise ConfigError(f"{source}: {exc}") from None
        if option.multiple:
            return [self._convert(option, t.strip(), source) for t in text.split(",") if t.strip()]
        return self._convert(option, text, source)

    def _convert(self, option: Option, text: str | None, source: str) -> Any:
        if text is None:
            return None
        try:
            value = option.type(text)
        except (ValueError, TypeError, argparse.ArgumentTypeError, ConfigError) as exc:
            reason = "not a valid value" if option.secret else str(exc)
            raise ConfigError(f"{source}: {reason}") from None
        if option.choices and value not in option.choices:
            shown = "" if option.secret else f", got {text!r}"
            wanted = ", ".join(str(c) for c in option.choices)
            raise ConfigError(f"{source}: expected one of {wanted}{shown}")
        if option.check is not None:
            problem = option.check(value)
            if problem:
                raise ConfigError(f"{source}: {problem}")
        return value


def usage_error(prog: str, exc: BaseException, redact: Callable[[str], str] | None = None) -> int:
    """Print ``prog: message`` on stderr and return 2 (a usage or configuration error)."""
    text = str(exc)
    print(f"{prog}: {redact(text) if redact else text}", file=sys.stderr, flush=True)
    return 2


def runtime_error(
    prog: str, exc: BaseException | str, redact: Callable[[str], str] | None = None
) -> int:
    """Print ``prog: message`` on stderr and return 1 (a failure while running)."""
    text = str(exc)
    print(f"{prog}: {redact(text) if redact else text}", file=sys.stderr, flush=True)
    return 1


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
    import importlib

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
