"""The HTTP front's open-files arithmetic (the connection behaviour is tested in integration)."""

from __future__ import annotations

import resource

import pytest

from alertloop.services.webhook.httpfront import HttpLimits, _overshoot, _within_open_files


@pytest.mark.parametrize(
    ("soft", "hard", "cap"),
    [(1024, 1024, 448), (4096, 4096, 2048), (2000, 2000, 936), (1024, 65536, 2048)],
    ids=["tight", "fits", "between", "raised"],
)
def test_cap_fits_the_open_files_limit(
    monkeypatch: pytest.MonkeyPatch, soft: int, hard: int, cap: int
) -> None:
    limit = {"soft": soft}

    def setrlimit(kind: int, values: tuple[int, int]) -> None:
        if values[0] > hard:
            raise ValueError("over the hard limit")
        limit["soft"] = values[0]

    monkeypatch.setattr(resource, "getrlimit", lambda kind: (limit["soft"], hard))
    monkeypatch.setattr(resource, "setrlimit", setrlimit)
    fitted = _within_open_files(HttpLimits(max_connections=2048))
    assert fitted.max_connections == cap
    assert fitted.max_connections + _overshoot(fitted) + 128 <= limit["soft"]
