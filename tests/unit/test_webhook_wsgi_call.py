"""The WSGI call of the HTTP front and the credentials check on the headers."""

from __future__ import annotations

import base64
import json
from typing import Any

from flask import Flask, request

from alertloop.services.webhook.authgate import BasicAuthGate, Verdict, credentials
from alertloop.services.webhook.passwords import PasswordVerifier, hash_password
from alertloop.services.webhook.wsgi_call import (
    build_environ,
    call_wsgi,
    error_answer,
    split_target,
)


def _environ(headers: list[tuple[bytes, bytes]], target: bytes = b"/alert?x=1") -> dict[str, Any]:
    return build_environ(
        b"POST", target, b"1.1", headers, b"{}", ("127.0.0.1", 5000), ("10.0.0.9", 4242)
    )


def test_environ_follows_pep_3333() -> None:
    env = _environ(
        [
            (b"content-type", b"application/json"),
            (b"content-length", b"999"),
            (b"x-forwarded-for", b"1.2.3.4"),
            (b"x_forwarded_for", b"6.6.6.6"),  # dropped: could pose as the header above
            (b"accept", b"a"),
            (b"accept", b"b"),
        ]
    )
    assert (env["REQUEST_METHOD"], env["PATH_INFO"], env["QUERY_STRING"]) == (
        "POST",
        "/alert",
        "x=1",
    )
    assert env["CONTENT_TYPE"] == "application/json"
    assert env["CONTENT_LENGTH"] == "2"  # the body's real length
    assert env["HTTP_X_FORWARDED_FOR"] == "1.2.3.4"
    assert env["HTTP_ACCEPT"] == "a,b"
    assert (env["REMOTE_ADDR"], env["SERVER_PORT"]) == ("10.0.0.9", "5000")
    assert env["wsgi.input"].read() == b"{}"
    assert split_target(b"http://host:5000/alert?y=2") == (b"/alert", b"y=2")
    assert _environ([], b"/a%20b")["PATH_INFO"] == "/a b"


def test_call_wsgi_collects_the_answer_and_turns_a_crash_into_500() -> None:
    app = Flask(__name__)

    @app.post("/alert")
    def alert() -> dict[str, Any]:
        return {"got": request.get_json(), "ip": request.remote_addr}

    answer = call_wsgi(app, _environ([(b"content-type", b"application/json")]))
    assert answer.status == 200
    assert json.loads(answer.body) == {"got": {}, "ip": "10.0.0.9"}
    assert (b"content-type", b"application/json") in answer.headers

    def broken(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        raise RuntimeError("boom")

    crashed = call_wsgi(broken, _environ([]))
    assert crashed.status == 500 and json.loads(crashed.body)["error"]["status"] == 500
    assert error_answer(413, "too big").status == 413


def _basic(text: str) -> str:
    return "Basic " + base64.b64encode(text.encode()).decode()


def test_credentials_are_parsed_as_werkzeug_parses_them() -> None:
    assert credentials(_basic("grafana:pa:ss")) == ("grafana", "pa:ss")
    assert credentials(_basic("nocolon")) == ("nocolon", "")
    for none in (None, "", "Bearer abc", "Basic !!!"):
        assert credentials(none) is None


def test_gate_quick_only_without_credentials_or_when_verified_before() -> None:
    verifier = PasswordVerifier({"u": hash_password("pw", "pbkdf2:sha256:1000")})
    gate = BasicAuthGate(verifier)
    assert gate.quick(None) == Verdict("", "", False)
    assert gate.quick(_basic("u:pw")) is None  # not verified yet: needs the slow check
    assert gate.slow(_basic("u:pw")) == Verdict("u", "pw", True)
    assert gate.quick(_basic("u:pw")) == Verdict("u", "pw", True)
    assert gate.quick(_basic("u:wrong")) is None
    assert gate.slow(_basic("u:wrong")) == Verdict("u", "wrong", False)
