"""``KEY=value`` files that Docker Compose (``.env``) and systemd (``EnvironmentFile=``) read
literally.

Compose interpolates ``$VAR`` and ``${VAR}`` in unquoted and double-quoted values of a ``.env``
file, so a password hash such as ``scrypt:32768:8:1$salt$hash`` pasted bare is silently cut.
Both Compose and systemd take a single-quoted value as it is. So a value made only of
characters that no reader treats specially is written bare, any other value single-quoted, and
a value that single quotes cannot carry (a quote, a backslash, a line break) is refused.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_BARE = re.compile(r"[A-Za-z0-9_./:@,+=%-]*\Z")
_UNQUOTABLE = ("'", "\\", "\n", "\r", "\0")


def quote_value(value: str) -> str:
    """``value`` as it must stand after ``KEY=``; raises ValueError when it cannot be written."""
    if _BARE.match(value):
        return value
    bad = [c for c in _UNQUOTABLE if c in value]
    if bad:
        raise ValueError(f"a value holding {bad[0]!r} cannot be written to an env file literally")
    return f"'{value}'"


def format_env(values: Mapping[str, str], comments: Iterable[str] = ()) -> str:
    """The file's text: ``# comment`` lines, then one ``KEY=value`` line per item.

    Raises ValueError for a key that is not a variable name or a value ``quote_value`` refuses.
    """
    lines = [f"# {c}".rstrip() for c in comments]
    for key, value in values.items():
        if not _KEY.match(key):
            raise ValueError(f"{key!r} is not a variable name")
        lines.append(f"{key}={quote_value(value)}")
    return "\n".join(lines) + "\n"


def parse_env(text: str) -> dict[str, str]:
    """Read back what ``format_env`` writes (bare or single-quoted values; comments skipped)."""
    out: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition("=")
        if len(value) >= 2 and value[0] == value[-1] == "'":
            value = value[1:-1]
        out[key] = value
    return out
