"""Users, hashes and the verified-credential cache."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.webhook.errors import WebhookConfigError
from services.webhook.passwords import (
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
