"""Users and password checks for the webhook's HTTP basic auth.

Passwords are stored as Werkzeug hashes (``scrypt:...`` by default, ``pbkdf2:...`` accepted), made
by ``alertloop hash-password``. A deliberately slow hash costs about 100 ms a check here, which
would cap the service at a few requests a second. So after one successful slow check the
verifier remembers a fast keyed digest of the verified credentials: HMAC-SHA256 with a random
key that exists only in this process's memory, over the user name and password together. Later
requests with the same credentials are found by that digest in a set: the lookup depends only on
a keyed digest the client cannot choose, never on whether the name exists. A wrong password
never matches a digest and still pays the slow check.

Trade-off: while the process runs, its memory holds a fast digest of each password that has
been used. Someone who can read that memory can also read the key, and could then test guesses
quickly. Without access to the process, nothing changes: the stored hashes stay slow, the key
is never written anywhere, and a restart forgets both. Every slow check runs one hash of each
method in use (see ``PasswordVerifier``), so unknown users, wrong passwords and right ones cost
the same whatever the mix of methods.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
from collections.abc import Mapping
from pathlib import Path

from werkzeug.security import check_password_hash, generate_password_hash

from alertloop.services.webhook.errors import WebhookConfigError

log = logging.getLogger(__name__)

DEFAULT_METHOD = "scrypt"
_HASH_PREFIXES = ("scrypt:", "pbkdf2:")


def hash_password(password: str, method: str = DEFAULT_METHOD) -> str:
    """A Werkzeug hash of ``password`` (salted), for a users file or ALERTLOOP_WEBHOOK_USERS."""
    return generate_password_hash(password, method=method)


def is_password_hash(text: str) -> bool:
    """Whether ``text`` looks like a Werkzeug ``method$salt$hash`` string this service can check."""
    parts = text.split("$")
    return len(parts) == 3 and parts[0].startswith(_HASH_PREFIXES) and all(parts)


def parse_users(entries: list[str], source: str) -> dict[str, str]:
    """``user:secret`` entries (blank entries and ``#`` comments skipped) as a dict.

    Raises WebhookConfigError naming ``source`` for an entry without ``:`` or an empty name,
    or a user given twice.
    """
    users: dict[str, str] = {}
    for number, raw in enumerate(entries, start=1):
        entry = raw.strip()
        if not entry or entry.startswith("#"):
            continue
        name, sep, secret = entry.partition(":")
        if not sep or not name or not secret:
            raise WebhookConfigError(f"{source}, entry {number}: expected 'user:hash'")
        if name in users:
            raise WebhookConfigError(f"{source}: user {name!r} given twice")
        users[name] = secret
    return users


def load_users_file(path: str | Path) -> dict[str, str]:
    """Users from an htpasswd-style file, one ``user:hash`` a line.

    Raises WebhookConfigError when the file cannot be read or an entry is malformed.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise WebhookConfigError(f"users file {path}: {exc.strerror or exc}") from exc
    return parse_users(text.splitlines(), f"users file {path}")


def hash_method(hashed: str) -> str:
    """The method part of a Werkzeug hash, parameters included (``scrypt:32768:8:1``)."""
    return hashed.split("$", 1)[0]


class PasswordVerifier:
    """Checks basic-auth credentials against configured users, in constant time.

    Every slow check costs the same whoever asks: it checks one hash of each method (with its
    parameters) found among the users, the user's own for their method and a dummy of each
    other one, and an unknown user checks only dummies. So a name cannot be told from the time
    its answer takes, whatever the mix of scrypt and pbkdf2 users.

    ``plaintext=True`` (test mode only) also accepts entries that are not hashes and compares
    them as plain text. Raises WebhookConfigError when an entry is not a hash outside that mode.
    """

    def __init__(self, users: Mapping[str, str], *, plaintext: bool = False) -> None:
        self._users = dict(users)
        self._plaintext = {
            name for name, secret in self._users.items() if not is_password_hash(secret)
        }
        if self._plaintext and not plaintext:
            names = ", ".join(sorted(self._plaintext))
            raise WebhookConfigError(
                f"users {names}: not a password hash (make one with 'alertloop hash-password'); "
                "plain-text passwords need --insecure-plaintext-users"
            )
        methods = sorted(
            {hash_method(s) for n, s in self._users.items() if n not in self._plaintext}
        )
        # One dummy per method: an unknown user pays for all of them, a known user for the
        # others than their own. Without hashed users (test mode), one cheap dummy.
        try:
            self._dummies = {
                method: hash_password(secrets.token_hex(16), method)
                for method in (methods or ["pbkdf2"])
            }
        except ValueError as exc:
            raise WebhookConfigError(f"users: unsupported hash method ({exc})") from None
        self._key = secrets.token_bytes(32)
        # Digests of verified credentials (user and password together): a lookup by a keyed
        # digest says nothing about which names exist.
        self._verified: set[bytes] = set()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._users)

    def __repr__(self) -> str:
        return f"PasswordVerifier(users={self.usernames!r}, methods={sorted(self._dummies)!r})"

    @property
    def usernames(self) -> list[str]:
        return sorted(self._users)

    def _digest(self, username: str, password: str) -> bytes:
        message = (
            username.encode("utf-8", "surrogatepass")
            + b"\0"
            + password.encode("utf-8", "surrogatepass")
        )
        return hmac.new(self._key, message, hashlib.sha256).digest()

    def verify_cached(self, username: str, password: str) -> bool:
        """True when these exact credentials were verified before (fast); False says only
        that a slow ``verify`` is needed."""
        return self._digest(username, password) in self._verified

    def verify(self, username: str, password: str) -> bool:
        """True when ``password`` is ``username``'s; never raises for any input strings."""
        digest = self._digest(username, password)
        if digest in self._verified:
            return True
        stored = self._users.get(username)
        own = (
            hash_method(stored) if stored is not None and username not in self._plaintext else None
        )
        # The same checks whether the user exists or not: every method's dummy but the own one.
        for method, dummy in self._dummies.items():
            if method != own:
                check_password_hash(dummy, password)
        if stored is None:
            return False
        if own is None:
            ok = hmac.compare_digest(
                stored.encode("utf-8", "surrogatepass"), password.encode("utf-8", "surrogatepass")
            )
        else:
            ok = check_password_hash(stored, password)
        if ok:
            with self._lock:
                self._verified.add(digest)
        return ok
