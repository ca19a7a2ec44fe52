"""Delivering one notification to the webhook contact point, the way Grafana's webhook does.

One attempt per notification: Grafana's webhook integration does not retry a failed request
itself (it reports the failure, and its Alertmanager sends the group again on the next
``group_interval`` tick, for any failure, a 4xx included; see ``dispatcher.py``). Every
attempt is recorded as a Delivery.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import requests

log = logging.getLogger(__name__)
USER_AGENT = "Grafana/alertloop-sim"


@dataclass(frozen=True)
class Delivery:
    """One notification's fate: when it was sent and answered, HTTP status, whether it was ok."""

    queued: float
    finished: float
    status: int | None
    attempts: int
    ok: bool
    summary: str
    error: str | None = None
    group_key: str = ""


class Notifier:
    """Posts JSON bodies to ``url`` with basic auth (when both user and password are set)."""

    def __init__(
        self,
        url: str,
        username: str = "",
        password: str = "",
        *,
        method: str = "POST",
        timeout: float = 5.0,
        session: Any = None,
    ) -> None:
        self.url = url
        self.method = method.upper()
        self.timeout = timeout
        self._auth = (username, password) if username and password else None
        self._own_session = session is None
        self._session = session if session is not None else requests.Session()
        self._lock = threading.Lock()
        self._deliveries: list[Delivery] = []

    @property
    def deliveries(self) -> list[Delivery]:
        with self._lock:
            return list(self._deliveries)

    def deliver(self, body: dict[str, Any], summary: str, group_key: str = "") -> Delivery:
        """POST ``body`` once; 2xx is success. Never raises for HTTP or connection errors."""
        started = time.time()
        status, error = None, None
        try:
            response = self._session.request(
                self.method,
                self.url,
                data=json.dumps(body).encode(),
                headers={"Content-Type": "application/json", "User-Agent": USER_AGENT},
                auth=self._auth,
                timeout=self.timeout,
            )
            status = response.status_code
        except requests.RequestException as exc:
            error = f"{type(exc).__name__}: {exc}"
        ok = status is not None and 200 <= status < 300
        if not ok:
            log.warning(
                "notification %r not delivered: status=%s error=%s; the group is sent again on "
                "its next group_interval tick", summary, status, error,
            )  # fmt: skip
        delivery = Delivery(started, time.time(), status, 1, ok, summary, error, group_key)
        with self._lock:
            self._deliveries.append(delivery)
        return delivery

    def close(self) -> None:
        if self._own_session:
            self._session.close()
