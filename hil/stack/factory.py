"""Choosing a backend by name: ``auto`` is docker where an engine answers, else native."""

from __future__ import annotations

from typing import Any

from alertloop.hil.stack.base import MissingBinaries, Stack
from alertloop.hil.stack.docker import DockerStack, docker_available
from alertloop.hil.stack.external import ExternalStack
from alertloop.hil.stack.native import INSTALL_HINT, NativeStack, missing_binaries
from alertloop.services.common.errors import ConfigError

BACKENDS = ("auto", "native", "docker", "external")


def resolve_backend(name: str) -> str:
    """The concrete backend ``auto`` stands for on this machine.

    Raises MissingBinaries when neither Docker nor the native binaries are available.
    """
    if name != "auto":
        return name
    ok, why = docker_available()
    if ok:
        return "docker"
    missing = missing_binaries()
    if not missing:
        return "native"
    raise MissingBinaries(
        f"no stack backend can run here: {why}, and {', '.join(missing)} "
        f"{'is' if len(missing) == 1 else 'are'} not installed; {INSTALL_HINT}"
    )


def create_stack(backend: str = "auto", **options: Any) -> Stack:
    """A stack of the given backend (not started). External needs ``mqtt_url`` and ``influx_url``."""
    if backend not in BACKENDS:
        raise ConfigError(f"unknown stack backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    concrete = resolve_backend(backend)
    if concrete == "native":
        return NativeStack(
            **{k: v for k, v in options.items() if k in ("mqtt_users", "database", "keep_logs")}
        )
    if concrete == "docker":
        return DockerStack(
            **{k: v for k, v in options.items() if k in ("database", "grafana", "images")}
        )
    mqtt_url, influx_url = options.get("mqtt_url"), options.get("influx_url")
    if not mqtt_url or not influx_url:
        raise ConfigError(
            "the external backend needs --mqtt-url and --influx-url (or ALERTLOOP_MQTT_URL and ALERTLOOP_INFLUX_URL)"
        )
    return ExternalStack(
        mqtt_url,
        influx_url,
        influx_db=options.get("database"),
        grafana_url=options.get("grafana_url"),
    )
