"""Random secrets, and mosquitto's password file in mosquitto's own format.

A mosquitto 2.x password file has one ``user:$7$<iterations>$<salt>$<hash>`` line per user:
PBKDF2-HMAC-SHA512 over the password with a 12-byte random salt, salt and 64-byte hash in
standard base64 (``mosquitto_passwd.c`` ``output_new_password``, ``password_mosq.h``). When the
``mosquitto_passwd`` program is installed it makes the lines (the password goes to it on
standard input, never on its command line); otherwise this module writes the same format.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path

from alertloop.services.deploy.errors import DeployError

SALT_BYTES = 12
# mosquitto 2.0's mosquitto_passwd uses 101, later releases 1000; the broker reads the count
# from each line. The secrets made here are random (192 bits), so the count guards nothing a
# guess could find; it only costs the broker time at every CONNECT.
ITERATIONS = 1000
_SEARCH = ("/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin")


def random_secret(nbytes: int = 24) -> str:
    """A URL-safe random secret (``nbytes`` random bytes; 32 characters by default).

    The alphabet is ``A-Z a-z 0-9 - _``: no ``$``, quote, ``:``, ``@`` or space, so it is safe
    in a URL's user part, a ``.env`` line and a password file.
    """
    return base64.urlsafe_b64encode(os.urandom(nbytes)).decode("ascii").rstrip("=")


def mosquitto_hash(
    password: str, *, salt: bytes | None = None, iterations: int = ITERATIONS
) -> str:
    """``$7$<iterations>$<salt>$<hash>``: mosquitto's PBKDF2-SHA512 hash of ``password``."""
    salt = os.urandom(SALT_BYTES) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, iterations)
    b64 = base64.b64encode
    return f"$7${iterations}${b64(salt).decode()}${b64(digest).decode()}"


def mosquitto_check(password: str, hashed: str) -> bool:
    """True when ``hashed`` (a ``$7$`` line's hash part) is ``password``'s."""
    parts = hashed.split("$")
    if len(parts) != 5 or parts[1] != "7":
        return False
    salt = base64.b64decode(parts[3])
    return mosquitto_hash(password, salt=salt, iterations=int(parts[2])) == hashed


def find_mosquitto_passwd() -> str | None:
    """The ``mosquitto_passwd`` program, on PATH or where Debian installs it."""
    found = shutil.which("mosquitto_passwd")
    if found:
        return found
    for folder in _SEARCH:
        candidate = Path(folder) / "mosquitto_passwd"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def _check_user(user: str) -> None:
    if not user or ":" in user or any(ord(c) < 32 for c in user):
        raise DeployError(f"MQTT user {user!r}: empty, or holds ':' or a control character")


def _line_from_program(program: str, user: str, password: str, workdir: Path) -> str:
    path = workdir / "passwd"
    try:
        proc = subprocess.run(
            [program, "-c", str(path), user],
            input=f"{password}\n{password}\n",
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DeployError(f"{program}: {exc}") from exc
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        raise DeployError(
            f"{program} -c ... {user} exited with {proc.returncode}: "
            f"{detail[-1] if detail else '(no output)'}"
        )
    lines = [ln for ln in path.read_text().splitlines() if ln.startswith(f"{user}:")]
    if len(lines) != 1:
        raise DeployError(f"{program} wrote no line for {user}")
    return lines[0]


def mosquitto_password_file(users: Mapping[str, str], *, program: str | None = None) -> str:
    """The text of a mosquitto password file for ``users`` ({user: password}).

    ``program`` is a ``mosquitto_passwd`` to run (``find_mosquitto_passwd()`` gives the
    installed one); ``None`` writes the lines here. Raises DeployError when a user name cannot
    go in the file or the program fails.
    """
    for user in users:
        _check_user(user)
    if program is None:
        return "".join(f"{user}:{mosquitto_hash(pw)}\n" for user, pw in users.items())
    lines = []
    with tempfile.TemporaryDirectory(prefix="alertloop-passwd-") as tmp:
        for user, password in users.items():
            lines.append(_line_from_program(program, user, password, Path(tmp)))
    return "".join(line + "\n" for line in lines)
