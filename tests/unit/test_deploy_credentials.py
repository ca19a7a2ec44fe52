"""Random secrets and mosquitto's ``$7$`` password lines (services/deploy/credentials.py)."""

from __future__ import annotations

import base64
import re

import pytest

from alertloop.services.deploy.credentials import (
    mosquitto_check,
    mosquitto_hash,
    mosquitto_password_file,
    random_secret,
)
from alertloop.services.deploy.errors import DeployError

# Made by mosquitto 2.0.11's mosquitto_passwd for the password "s3cret".
REAL_LINE = (
    "alice:$7$101$uH4eApgYeKTUZCEw$ezW3ExSjOKOZZW4RqTBEGKOk49UuHUHidSE59p8xRuUoPDIYIY61a/"
    "YtOoUBT4O5zJRmspFpz/+xi3hCfzDyyg=="
)


def test_our_hash_of_a_known_salt_is_mosquittos() -> None:
    hashed = REAL_LINE.split(":", 1)[1]
    salt = base64.b64decode(hashed.split("$")[3])
    assert mosquitto_hash("s3cret", salt=salt, iterations=101) == hashed
    assert mosquitto_check("s3cret", hashed)
    assert not mosquitto_check("s3cret ", hashed)
    assert not mosquitto_check("s3cret", "$6$abc$def")


def test_a_new_hash_has_mosquittos_shape() -> None:
    hashed = mosquitto_hash("pw")
    prefix, iterations, salt, digest = hashed.split("$")[1:]
    assert prefix == "7" and int(iterations) >= 101
    assert len(base64.b64decode(salt)) == 12 and len(base64.b64decode(digest)) == 64
    assert mosquitto_hash("pw") != hashed  # a new salt each time


def test_password_file_lines_in_order() -> None:
    text = mosquitto_password_file({"a": "1", "b": "2"})
    lines = text.splitlines()
    assert [ln.split(":")[0] for ln in lines] == ["a", "b"] and text.endswith("\n")
    assert mosquitto_check("2", lines[1].split(":", 1)[1])


@pytest.mark.parametrize("user", ["", "a:b", "tab\there"], ids=["empty", "colon", "control"])
def test_user_names_the_file_cannot_hold_are_refused(user: str) -> None:
    with pytest.raises(DeployError, match="MQTT user"):
        mosquitto_password_file({user: "x"})


def test_random_secrets_are_long_plain_and_new() -> None:
    values = {random_secret() for _ in range(50)}
    assert len(values) == 50
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{32}", v) for v in values)
