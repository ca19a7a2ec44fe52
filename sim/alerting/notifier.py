"""Delivering notifications to the webhook contact point the way Grafana's Alertmanager does.

One sender thread; a newer notification replaces one not yet delivered (the group's current
state is what counts). Connection errors, 429 and 5xx are retried with exponential backoff;
other 4xx are not (the contact point refused the body; retrying would not help).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import requests

from services.common.deadline import wait_until
from sim.alerting.errors import AlertingError

log = logging.getLogger(__name__)
USER_AGENT = "Grafana/alertloop-sim"


@dataclass(frozen=True)
class Delivery:
    """One notification's fate: when it was queued and finished, HTTP status, attempts."""

    queued: float
    finished: float
    status: int | None
    attempts: int
    ok: bool
    summary: str
    error: str | None = None


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
        give_up_after: float = 120.0,
        backoff: tuple[float, float] = (0.2, 5.0),
        session: Any = None,
    ) -> None:
        self.url = url
        self.method = method.upper()
        self.timeout = timeout
        self.give_up_after = give_up_after
        self.backoff = backoff
        self._auth = (username, password) if username and password else None
        self._session = session if session is not None else requests.Session()
        self._cond = threading.Condition()
        self._pending: tuple[float, dict[str, Any], str] | None = None
        self._busy = False
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.deliveries: list[Delivery] = []

    def start(self) -> None:
        """Start the sender thread. Raises AlertingError if already started."""
        if self._thread is not None:
            raise AlertingError("notifier already started")
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="alertloop-notifier", daemon=True)
        self._thread.start()

    def stop(self, drain: float = 2.0) -> None:
        """Give a pending notification up to ``drain`` seconds, then stop the thread."""
        if self._thread is None:
            return
        try:
            self.wait_idle(drain)
        except AlertingError:
            log.warning("notifier stopped with an undelivered notification")
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._thread.join(timeout=self.timeout + 1.0)
        self._thread = None

    def submit(self, body: dict[str, Any], summary: str) -> None:
        """Queue ``body``; it replaces a previous one that has not been delivered yet."""
        with self._cond:
            if self._pending is not None:
                log.info("notification %r superseded by %r", self._pending[2], summary)
            self._pending = (time.time(), body, summary)
            self._cond.notify_all()

    @property
    def idle(self) -> bool:
        with self._cond:
            return self._pending is None and not self._busy

    def wait_idle(self, timeout: float) -> None:
        """Wait until nothing is queued or being sent. Raises AlertingError on timeout."""
        try:
            wait_until(lambda: self.idle, timeout, what="the notifier to deliver its notifications")
        except TimeoutError as exc:
            raise AlertingError(str(exc)) from exc

    # -- sender thread -------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._cond:
                while self._pending is None and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                assert self._pending is not None
                queued, body, summary = self._pending
                self._pending = None
                self._busy = True
            try:
                self._deliver(queued, body, summary)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _deliver(self, queued: float, body: dict[str, Any], summary: str) -> None:
        data = json.dumps(body).encode()
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
        delay, attempts = self.backoff[0], 0
        while True:
            attempts += 1
            status, error = None, None
            try:
                response = self._session.request(
                    self.method,
                    self.url,
                    data=data,
                    headers=headers,
                    auth=self._auth,
                    timeout=self.timeout,
                )
                status = response.status_code
            except requests.RequestException as exc:
                error = f"{type(exc).__name__}: {exc}"
            ok = status is not None and 200 <= status < 300
            retry = not ok and (status is None or status == 429 or status >= 500)
            elapsed = time.time() - queued
            if not retry or elapsed >= self.give_up_after or self._superseded():
                if not ok:
                    log.warning(
                        "notification %r not delivered: status=%s error=%s", summary, status, error
                    )
                self.deliveries.append(
                    Delivery(queued, time.time(), status, attempts, ok, summary, error)
                )
                return
            log.info(
                "notification %r: status=%s error=%s; retrying in %.1f s",
                summary,
                status,
                error,
                delay,
            )
            with self._cond:
                self._cond.wait_for(
                    lambda: self._stopping or self._pending is not None, timeout=delay
                )
            delay = min(delay * 2, self.backoff[1])

    def _superseded(self) -> bool:
        with self._cond:
            return self._pending is not None or self._stopping
