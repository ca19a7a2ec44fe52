"""The Stack: where the broker, the database and (optionally) Grafana are, and who started them."""

from __future__ import annotations

import abc
from typing import Protocol

from alertloop.services.common.config import InfluxSettings, MqttSettings
from alertloop.services.common.errors import AlertloopError
from alertloop.services.common.lifecycle import Lifecycle


class StackError(AlertloopError):
    """A stack could not be started, reached or stopped."""


class ServerStartError(StackError):
    """A server process did not become ready; the message carries its log tail."""


class DockerUnavailable(StackError):
    """No Docker engine answers; the docker backend cannot run here."""


class MissingBinaries(StackError):
    """Neither Docker nor the native binaries are available."""


class ServerControl(Protocol):
    """A server the stack started and can stop and start again on the same port."""

    name: str

    @property
    def running(self) -> bool: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def kill(self) -> None: ...

    def log_tail(self, lines: int = 30) -> str: ...


class Stack(Lifecycle, abc.ABC):
    """A running broker + database (+ Grafana), used as a context manager.

    ``__enter__`` starts it and cleans up even when starting fails half way.
    """

    backend: str = "?"

    def __init__(self) -> None:
        self._started = False

    # -- what a user reads -------------------------------------------------------------
    @property
    @abc.abstractmethod
    def mqtt(self) -> MqttSettings:
        """The broker's endpoint (host, port, credentials)."""

    @property
    @abc.abstractmethod
    def influx(self) -> InfluxSettings:
        """The database server's endpoint and the default database name."""

    @property
    def grafana_url(self) -> str | None:
        """Grafana's base URL where this backend runs Grafana, else None."""
        return None

    @property
    def servers(self) -> dict[str, ServerControl]:
        """The servers this stack started, by name (``mqtt``, ``influxdb``); empty if none."""
        return {}

    def describe(self) -> str:
        """Where the servers run, in one line (for logs and test reports)."""
        return f"{self.backend}: mqtt {self.mqtt.safe_url}, influxdb {self.influx.url}"

    def env(self) -> dict[str, str]:
        """The ``ALERTLOOP_*`` variables that point every component at this stack."""
        out = {
            "ALERTLOOP_MQTT_URL": self.mqtt.url,
            "ALERTLOOP_INFLUX_URL": self.influx.url,
            "ALERTLOOP_INFLUX_DB": self.influx.database,
        }
        if self.grafana_url:
            out["ALERTLOOP_GRAFANA_URL"] = self.grafana_url
        return out

    # -- lifecycle ---------------------------------------------------------------------
    @abc.abstractmethod
    def _start(self) -> None: ...

    @abc.abstractmethod
    def _stop(self) -> None: ...

    def start(self) -> Stack:
        try:
            self._start()
        except BaseException:
            self._stop()
            raise
        self._started = True
        return self

    def stop(self) -> None:
        self._started = False
        self._stop()

    @property
    def started(self) -> bool:
        return self._started

    def __repr__(self) -> str:
        return f"<{type(self).__name__} backend={self.backend} mqtt={self.mqtt.safe_url} influx={self.influx.url}>"
