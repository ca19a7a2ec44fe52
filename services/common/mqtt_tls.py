"""TLS for MQTT: an ``ssl.SSLContext`` from :class:`~alertloop.services.common.config.MqttTls`.

The broker's certificate is checked against ``ca_file`` (or the system's CAs) and its name
against ``server_name`` (or the URL's host), which is also sent as SNI. A client certificate
is presented when configured. ``insecure`` turns both checks off; it exists for tests and is
logged by the services as a warning.
"""

from __future__ import annotations

import ssl

from alertloop.services.common.config import MqttSettings
from alertloop.services.common.errors import ConfigError

__all__ = ["client_context", "server_name"]


def client_context(settings: MqttSettings) -> ssl.SSLContext:
    """The client context for ``settings`` (TLS 1.2 or later).

    Raises ConfigError when a CA, certificate or key file cannot be read or does not fit.
    """
    opts = settings.tls_options
    try:
        context = ssl.create_default_context(cafile=opts.ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"MQTT CA file {opts.ca_file!r}: {exc}") from exc
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if opts.cert_file:
        try:
            context.load_cert_chain(opts.cert_file, opts.key_file)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                f"MQTT client certificate {opts.cert_file!r} / key {opts.key_file!r}: {exc}"
            ) from exc
    if opts.insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def server_name(settings: MqttSettings) -> str:
    """The name sent as SNI and checked in the broker's certificate."""
    return settings.tls_options.server_name or settings.host
