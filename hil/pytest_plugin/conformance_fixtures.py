"""Fixtures for the MQTT conformance suite: brokers of the test's own that it may restart, freeze
or wipe. ``alertloop_conformance_mosquitto``: mosquitto with plain, TLS and client-certificate
listeners and a test CA made with openssl. ``alertloop_ejabberd_broker``: ejabberd's
``mod_mqtt``, a second, independent MQTT 5 broker (one per session, since it starts slowly)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from alertloop.hil.stack.base import MissingBinaries

if TYPE_CHECKING:  # the brokers' modules load when a test uses them
    from alertloop.hil.stack.ejabberd import EjabberdBroker
    from alertloop.hil.stack.tls import ConformanceMosquitto

__all__ = ["alertloop_conformance_mosquitto", "alertloop_ejabberd_broker"]


@pytest.fixture
def alertloop_conformance_mosquitto() -> Iterator[ConformanceMosquitto]:
    """A mosquitto of this test's own (``.plain``, ``.tls``, ``.mtls`` settings; ``restart``,
    ``suspend``/``resume``); removed at teardown."""
    from alertloop.hil.stack.tls import ConformanceMosquitto

    broker = ConformanceMosquitto()
    try:
        broker.start()
    except MissingBinaries as exc:
        broker.close()
        pytest.skip(str(exc))
    except BaseException:
        broker.close()  # its temp dir too
        raise
    try:
        yield broker
    finally:
        broker.close()


@pytest.fixture(scope="session")
def alertloop_ejabberd_broker() -> Iterator[EjabberdBroker]:
    """ejabberd with ``mod_mqtt`` on free loopback ports (never the system service), with a
    registered user; skipped with the reason when ejabberd is not installed."""
    from alertloop.hil.stack.ejabberd import EjabberdBroker, ejabberd_missing

    missing = ejabberd_missing()
    if missing:
        pytest.skip(missing)
    broker = EjabberdBroker()
    try:
        broker.start()
    except BaseException:
        broker.close()
        raise
    try:
        yield broker
    finally:
        broker.close()
