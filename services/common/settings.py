"""One way to declare, read and check an option: flag, variable, type, default, help, secrecy.

Each option is declared once (:class:`Option`). ``resolve`` reads it flag first, then variable,
then default, and every conversion and check happens here, so an error names what the user set:
``--batch-size: ...`` when the flag was given, ``ALERTLOOP_INGEST_BATCH_SIZE: ...`` when the
variable was. Booleans parse one way (:func:`parse_bool`). Secrets are never shown: not in
``repr`` of the :class:`Values`, not in errors; each secret variable ``X`` also has ``X_FILE``.
``alertloop.services.common.commands.Command`` turns options into a parser and its help.

Variables are named ``ALERTLOOP_<COMPONENT>_<FLAG>``, the component being the command's words
after ``alertloop`` (``alertloop sim fleet --rate`` reads ``ALERTLOOP_SIM_FLEET_RATE``). The
shared connection options name their component in the flag already (``--mqtt-url`` reads
``ALERTLOOP_MQTT_URL``). See docs/cli.md.

Chosen over pydantic-settings (a compiled dependency, pydantic-core, for every service) and
click (every command already had an argparse parser): a small layer on the standard library.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alertloop.services.common.errors import ConfigError

__all__ = [
    "Option",
    "Values",
    "integer",
    "listen_port",
    "non_negative",
    "number",
    "parse_bool",
    "port",
    "positive",
    "read_secret",
    "resolve",
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


def port(text: str) -> int:
    """``text`` as a TCP port, 1..65535; ValueError says what was expected."""
    return _port_from(text, 1)


def listen_port(text: str) -> int:
    """``text`` as a port to listen on, 0..65535 (0: a free one); ValueError as ``port``."""
    return _port_from(text, 0)


def _port_from(text: str, lowest: int) -> int:
    value = integer(text)
    if not lowest <= value <= 65535:
        raise ValueError(f"expected a port {lowest}..65535, got {value}")
    return value


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


METAVARS: dict[Any, str] = {integer: "INT", number: "NUMBER", Path: "PATH"}


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


def old_dest(option: Option, old_flag: str) -> str:
    """Where argparse keeps the value of a deprecated flag of ``option``."""
    return f"{option.name}__{_env_part(old_flag)}"


def file_dest(option: Option) -> str:
    """Where argparse keeps the value of ``option``'s file flag."""
    return f"{option.name}__file"


def resolve(
    option: Option,
    flags: Mapping[str, Any],
    env: Mapping[str, str],
    warn: Callable[[str, str | None], None],
) -> tuple[Any, str]:
    """The value of ``option`` and where it came from (the flag, the variable or ``default``):
    its flag, its deprecated flags, its file flag, then ``X_FILE``, ``X``, the other names and
    the deprecated names, then the default. ``flags`` are argparse's values by destination;
    ``warn(old, new)`` is called for a deprecated name. Raises ConfigError naming the source."""
    if option.positional:
        return convert(option, flags.get(option.name), option.name), option.name
    # 1. flags: the option's own, then its deprecated names, then its file flag
    given = flags.get(option.name) if option.flag else None
    if given is not None:
        return _from_flag(option, given, option.flag or ""), option.flag or ""
    for old in option.old_flags:
        given = flags.get(old_dest(option, old))
        if given is not None:
            warn(old, option.flag)
            return _from_flag(option, given, old), old
    path = flags.get(file_dest(option)) if option.file_flag else None
    if path:
        source = option.file_flag or ""
        return convert(option, read_secret(path, source, option.whole_file), source), source
    # 2. variables: X_FILE, X, the other names, the deprecated names
    if option.file_env and env.get(option.file_env):
        source = option.file_env
        text = read_secret(env[option.file_env], source, option.whole_file)
        return convert(option, text, source), source
    names = [(option.env, False)] + [(n, False) for n in option.alt_env]
    names += [(n, True) for n in option.old_env]
    for name, deprecated in names:
        if name and env.get(name, "") != "":
            if deprecated:
                warn(name, option.env)
            return _from_env(option, env[name], name), name
    # 3. the default
    default = list(option.default) if isinstance(option.default, list) else option.default
    return default, "default"


def _from_flag(option: Option, given: Any, source: str) -> Any:
    if option.boolean:
        return True
    if option.multiple:
        return [convert(option, text, source) for text in given]
    return convert(option, given, source)


def _from_env(option: Option, text: str, source: str) -> Any:
    if option.boolean:
        try:
            return parse_bool(text)
        except ValueError as exc:
            raise ConfigError(f"{source}: {exc}") from None
    if option.multiple:
        return [convert(option, t.strip(), source) for t in text.split(",") if t.strip()]
    return convert(option, text, source)


def convert(option: Option, text: str | None, source: str) -> Any:
    """``text`` as ``option``'s value: its type, choices and check. Raises ConfigError naming
    ``source``, without the text when the option is a secret."""
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
