"""Building paho-mqtt 2.x clients the same way everywhere (callback API 2, credentials, TLS)."""

from __future__ import annotations

import uuid

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from alertloop.services.common.config import MqttSettings
from alertloop.services.common.mqtt_tls import client_context


def new_client_id(prefix: str) -> str:
    """A client id that no other client on the broker has."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def make_client(
    settings: MqttSettings,
    client_id: str,
    *,
    clean_session: bool = True,
    manual_ack: bool = False,
    protocol: int = mqtt.MQTTv311,
    reconnect_delay: tuple[int, int] = (1, 30),
) -> mqtt.Client:
    """A paho client configured for ``settings`` but not yet connected.

    The caller sets callbacks, then calls ``connect_async`` + ``loop_start`` (or ``connect``).
    """
    kwargs: dict[str, object] = {"client_id": client_id, "protocol": protocol}
    if protocol != mqtt.MQTTv5:
        kwargs["clean_session"] = clean_session
    client = mqtt.Client(CallbackAPIVersion.VERSION2, manual_ack=manual_ack, **kwargs)  # type: ignore[arg-type]
    if settings.username:
        client.username_pw_set(settings.username, settings.password)
    if settings.tls:
        # the same TLS options as the services' own sessions (CA file, client certificate)
        client.tls_set_context(client_context(settings))
        if settings.tls_options.insecure:
            client.tls_insecure_set(True)
    client.reconnect_delay_set(*reconnect_delay)
    # An exception in a callback must never kill the network thread.
    client.suppress_exceptions = True
    return client
