"""Fixtures for the servers: ``alertloop_stack``, ``alertloop_mqtt_broker``,
``alertloop_influxdb``, ``alertloop_native_stack_factory``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from alertloop.hil.influx import TestDatabase
from alertloop.hil.stack import DockerUnavailable, NativeStack, Stack, create_stack
from alertloop.services.common.config import MqttSettings

__all__ = [
    "STACKS_USED",
    "alertloop_influxdb",
    "alertloop_mqtt_broker",
    "alertloop_native_stack_factory",
    "alertloop_stack",
]

STACKS_USED = pytest.StashKey[list[str]]()  # what each session stack ran on, for the summary


def _create_from_options(config: pytest.Config) -> Stack:
    return create_stack(
        config.getoption("--alertloop-stack"),
        mqtt_url=config.getoption("--alertloop-mqtt-url"),
        influx_url=config.getoption("--alertloop-influx-url"),
        database=config.getoption("--alertloop-influx-db"),
        grafana_url=config.getoption("--alertloop-grafana-url"),
        grafana=config.getoption("--alertloop-alerting", default="sim") == "grafana",
    )


@pytest.fixture(scope="session")
def alertloop_stack(request: pytest.FixtureRequest) -> Iterator[Stack]:
    """The session's broker + database, chosen by ``--alertloop-stack``; shared by every test."""
    try:
        the_stack = _create_from_options(request.config)
        the_stack.start()
    except DockerUnavailable as exc:
        pytest.skip(f"docker stack backend unavailable: {exc}")
    request.config.stash.setdefault(STACKS_USED, []).append(the_stack.describe())
    try:
        yield the_stack
    finally:
        the_stack.stop()


@pytest.fixture(scope="session")
def alertloop_mqtt_broker(alertloop_stack: Stack) -> MqttSettings:
    """The shared broker's endpoint."""
    return alertloop_stack.mqtt


@pytest.fixture
def alertloop_influxdb(
    alertloop_stack: Stack, request: pytest.FixtureRequest
) -> Iterator[TestDatabase]:
    """A fresh database on the shared InfluxDB for this test, dropped afterwards."""
    database = TestDatabase(alertloop_stack.influx, label=request.node.name).create()
    try:
        yield database
    finally:
        database.drop()


@pytest.fixture
def alertloop_native_stack_factory() -> Iterator[Callable[..., NativeStack]]:
    """Start native stacks of the test's own (for fault tests); all are stopped at teardown."""
    started: list[NativeStack] = []

    def factory(**kwargs: Any) -> NativeStack:
        the_stack = NativeStack(**kwargs)
        the_stack.start()
        started.append(the_stack)
        return the_stack

    try:
        yield factory
    finally:
        for the_stack in reversed(started):
            the_stack.stop()
