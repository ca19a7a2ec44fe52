"""Basic-auth check on the request headers, before the body is read.

The HTTP front asks the gate about every request that carries a body or credentials: ``quick``
answers from the headers alone when it can (no credentials, or credentials verified before),
``slow`` runs the password hash on a thread of its own. The verdict travels to the Flask app in
the WSGI environ under ``VERDICT_KEY``, so the app answers 401 itself (one error shape, one
metric) without hashing the same password twice. A client cannot set that key: header names
become ``HTTP_*`` keys.
"""

from __future__ import annotations

from typing import NamedTuple

from werkzeug.datastructures import Authorization

from alertloop.services.webhook.passwords import PasswordVerifier

VERDICT_KEY = "alertloop.webhook.auth_verdict"


class Verdict(NamedTuple):
    """The credentials as Flask-HTTPAuth will see them, and whether they are valid."""

    username: str
    password: str
    ok: bool


def credentials(header: str | None) -> tuple[str, str] | None:
    """User and password of a Basic ``Authorization`` header parsed as Werkzeug parses it;
    None when there are none (missing, another scheme, malformed), which the app treats as
    empty credentials."""
    auth = Authorization.from_header(header) if header else None
    if auth is None or auth.type != "basic":
        return None
    return auth.username or "", auth.password or ""


class BasicAuthGate:
    """Decides whether a request may send its body, from its ``Authorization`` header."""

    def __init__(self, verifier: PasswordVerifier) -> None:
        self._verifier = verifier

    def quick(self, header: str | None) -> Verdict | None:
        """The verdict when no hash is needed; None means: call ``slow`` (off the event loop)."""
        pair = credentials(header)
        if pair is None:
            return Verdict("", "", False)
        if self._verifier.verify_cached(*pair):
            return Verdict(*pair, True)
        return None

    def slow(self, header: str | None) -> Verdict:
        """The verdict after the full (slow, constant-cost) password check."""
        pair = credentials(header) or ("", "")
        return Verdict(*pair, self._verifier.verify(*pair))
