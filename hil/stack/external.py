"""The external backend: servers someone already runs (the seed's Raspberry Pi), given by URL."""

from __future__ import annotations

from alertloop.hil.stack.base import Stack, StackError
from alertloop.hil.stack.probes import influx_ping_ok, mqtt_connect_ok
from alertloop.services.common.config import DEFAULT_INFLUX_DB, InfluxSettings, MqttSettings


class ExternalStack(Stack):
    """Points at running servers; starting only checks that both answer. Stopping stops nothing."""

    backend = "external"

    def __init__(
        self,
        mqtt_url: str,
        influx_url: str,
        *,
        influx_db: str | None = None,
        grafana_url: str | None = None,
    ) -> None:
        super().__init__()
        self._mqtt = MqttSettings.from_url(mqtt_url)
        self._influx = InfluxSettings.from_url(influx_url, database=influx_db or DEFAULT_INFLUX_DB)
        self._grafana_url = grafana_url

    @property
    def mqtt(self) -> MqttSettings:
        return self._mqtt

    @property
    def influx(self) -> InfluxSettings:
        return self._influx

    @property
    def grafana_url(self) -> str | None:
        return self._grafana_url

    def _start(self) -> None:
        m = self._mqtt
        try:
            mqtt_ok = not m.tls and mqtt_connect_ok(
                m.host, m.port, m.username, m.password, timeout=3
            )
        except OSError as exc:
            raise StackError(f"MQTT broker at {m.safe_url} does not answer: {exc}") from exc
        if not mqtt_ok and not m.tls:
            raise StackError(f"MQTT broker at {m.safe_url} refused the connection (credentials?)")
        if not influx_ping_ok(self._influx.url, timeout=3):
            raise StackError(f"InfluxDB at {self._influx.url} does not answer /ping")

    def _stop(self) -> None:
        pass
