"""``.env`` lines that Compose and systemd read literally (services/deploy/envfile.py)."""

from __future__ import annotations

import pytest

from alertloop.services.deploy.envfile import format_env, parse_env, quote_value
from alertloop.services.webhook.passwords import hash_password


def test_plain_values_stay_bare() -> None:
    for value in ("iot", "1000", "http://influxdb:8086", "/srv/alertloop", "alertloop:latest", ""):
        assert quote_value(value) == value


def test_a_password_hash_is_single_quoted_whole() -> None:
    hashed = hash_password("pw")
    assert "$" in hashed
    line = format_env({"WEBHOOK_USERS": f"grafana:{hashed}"}).strip()
    assert line == f"WEBHOOK_USERS='grafana:{hashed}'"
    assert parse_env(line)["WEBHOOK_USERS"] == f"grafana:{hashed}"


@pytest.mark.parametrize(
    "value",
    ["a b", "x#y", 'say "hi"', "${HOME}", "50%", "a;b"],
    ids=["space", "hash", "double-quotes", "braces", "percent", "semicolon"],
)
def test_other_characters_are_quoted_or_safe(value: str) -> None:
    written = quote_value(value)
    assert written == value or written == f"'{value}'"
    assert parse_env(f"K={written}")["K"] == value
    if any(c in value for c in ' #"$;'):
        assert written.startswith("'")


@pytest.mark.parametrize(
    "value", ["it's", "back\\slash", "two\nlines"], ids=["quote", "backslash", "newline"]
)
def test_values_single_quotes_cannot_carry_are_refused(value: str) -> None:
    with pytest.raises(ValueError, match="cannot be written"):
        quote_value(value)


def test_keys_must_be_variable_names_and_comments_come_first() -> None:
    with pytest.raises(ValueError, match="not a variable name"):
        format_env({"1BAD": "x"})
    text = format_env({"A": "1"}, comments=["hello", ""])
    assert text == "# hello\n#\nA=1\n"
    assert parse_env(text) == {"A": "1"}
