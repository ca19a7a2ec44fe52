"""Users, hashes and the verified-credential cache."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alertloop.services.webhook.errors import WebhookConfigError
from alertloop.services.webhook.passwords import (
    PasswordVerifier,
    hash_password,
    is_password_hash,
    load_users_file,
    parse_users,
)

FAST = "pbkdf2:sha256:1000"


def test_hash_round_trip_and_shape() -> None:
    hashed = hash_password("s3cret", FAST)
    assert is_password_hash(hashed)
    assert not is_password_hash("s3cret")
    assert not is_password_hash("$apr1$abc$def")
    assert hash_password("s3cret").startswith("scrypt:")


def test_verify_right_wrong_unknown() -> None:
    verifier = PasswordVerifier({"grafana": hash_password("pw", FAST)})
    assert verifier.verify("grafana", "pw")
    assert verifier.verify("grafana", "pw")
    assert not verifier.verify("grafana", "PW")
    assert not verifier.verify("grafana", "")
    assert not verifier.verify("nobody", "pw")
    assert not verifier.verify("", "")


def test_second_check_uses_the_cache_and_a_wrong_password_does_not() -> None:
    verifier = PasswordVerifier({"u": hash_password("pw")})  # scrypt: slow on purpose
    start = time.perf_counter()
    assert verifier.verify("u", "pw")
    slow = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(100):
        assert verifier.verify("u", "pw")
    fast = (time.perf_counter() - start) / 100
    assert fast * 50 < slow, (fast, slow)
    start = time.perf_counter()
    assert not verifier.verify("u", "wrong")
    assert time.perf_counter() - start > fast * 50


def test_plaintext_only_in_test_mode() -> None:
    with pytest.raises(WebhookConfigError, match="insecure-plaintext-users"):
        PasswordVerifier({"u": "plain"})
    verifier = PasswordVerifier({"u": "plain", "h": hash_password("x", FAST)}, plaintext=True)
    assert verifier.verify("u", "plain")
    assert not verifier.verify("u", "plai")
    assert verifier.verify("h", "x")
    assert not verifier.verify("h", hash_password("x", FAST))


def test_parse_users_and_file(tmp_path: Path) -> None:
    hashed = hash_password("pw", FAST)
    path = tmp_path / "users"
    path.write_text(f"# comment\n\ngrafana:{hashed}\nops:{hashed}\n")
    assert load_users_file(path) == {"grafana": hashed, "ops": hashed}
    assert parse_users([f"a:{hashed}", " ", f"b:{hashed}"], "env") == {"a": hashed, "b": hashed}
    for bad in (["nocolon"], [":hash"], ["user:"], [f"a:{hashed}", f"a:{hashed}"]):
        with pytest.raises(WebhookConfigError):
            parse_users(bad, "env")
    with pytest.raises(WebhookConfigError, match="missing"):
        load_users_file(tmp_path / "missing")


@settings(max_examples=50, deadline=None)
@given(st.text(max_size=20), st.text(max_size=20))
def test_verify_never_raises(username: str, password: str) -> None:
    verifier = _VERIFIER
    assert verifier.verify(username, password) is (username == "u" and password == "pw")


_VERIFIER = PasswordVerifier({"u": hash_password("pw", FAST)})


SCRYPT_FAST = "scrypt:1024:8:1"
PBKDF2_FAST = "pbkdf2:sha256:2000"


def _checked_methods(
    verifier: PasswordVerifier, monkeypatch: pytest.MonkeyPatch, username: str, password: str
) -> tuple[bool, list[str]]:
    """The answer and the hash methods checked (with parameters) for one verification."""
    import alertloop.services.webhook.passwords as passwords

    calls: list[str] = []
    real = passwords.check_password_hash

    def spy(hashed: str, candidate: str) -> bool:
        calls.append(hashed.split("$", 1)[0])
        return real(hashed, candidate)

    monkeypatch.setattr(passwords, "check_password_hash", spy)
    try:
        return verifier.verify(username, password), sorted(calls)
    finally:
        monkeypatch.setattr(passwords, "check_password_hash", real)


@pytest.mark.parametrize(
    "first", ["pbkdf2-first", "scrypt-first"], ids=["pbkdf2-first", "scrypt-first"]
)
def test_every_slow_check_costs_the_same_whatever_the_hash_mix(
    monkeypatch: pytest.MonkeyPatch, first: str
) -> None:
    users = {
        "old": hash_password("pw-old", PBKDF2_FAST),
        "new": hash_password("pw-new", SCRYPT_FAST),
    }
    if first == "scrypt-first":
        users = dict(reversed(list(users.items())))
    verifier = PasswordVerifier(users)
    expected = sorted([PBKDF2_FAST, SCRYPT_FAST])
    cases = {
        "unknown user": ("nobody", "pw-new"),
        "scrypt user, wrong password": ("new", "wrong"),
        "pbkdf2 user, wrong password": ("old", "wrong"),
        "scrypt user, right password": ("new", "pw-new"),
        "pbkdf2 user, right password": ("old", "pw-old"),
    }
    for case, (user, password) in cases.items():
        ok, methods = _checked_methods(verifier, monkeypatch, user, password)
        assert ok is ("right" in case), case
        # One check of each method in use, whoever asks: the relative cost is 1.0 for all.
        assert methods == expected, (case, methods)


def test_cached_credentials_do_not_open_a_timing_hole(monkeypatch: pytest.MonkeyPatch) -> None:
    verifier = PasswordVerifier(
        {"u": hash_password("pw", SCRYPT_FAST), "v": hash_password("x", PBKDF2_FAST)}
    )
    assert verifier.verify("u", "pw")
    assert verifier.verify_cached("u", "pw")
    # A cached user with a wrong password pays exactly what an unknown user pays.
    _, wrong = _checked_methods(verifier, monkeypatch, "u", "wrong")
    _, unknown = _checked_methods(verifier, monkeypatch, "nobody", "wrong")
    assert wrong == unknown and len(wrong) == 2
    # Only the exact pair is remembered; the cache is keyed by a digest of both.
    assert not verifier.verify_cached("u", "wrong")
    assert not verifier.verify_cached("nobody", "pw")
    ok, cached = _checked_methods(verifier, monkeypatch, "u", "pw")
    assert ok and cached == []


def test_repr_shows_names_not_hashes() -> None:
    hashed = hash_password("pw", FAST)
    verifier = PasswordVerifier({"grafana": hashed})
    assert "grafana" in repr(verifier)
    assert hashed.split("$")[2] not in repr(verifier)


def test_unsupported_hash_method_is_a_config_error() -> None:
    with pytest.raises(WebhookConfigError, match="unsupported hash method"):
        PasswordVerifier({"u": "scrypt:abc$salt$hash"})
