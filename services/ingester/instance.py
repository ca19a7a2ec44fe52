"""One ingester per spool directory, and per client id at a broker on one host.

:func:`claim` takes both locks at start and turns a refusal into one error that names the
holder's pid and says how to run several ingesters. Why both: two processes on one spool delete
each other's segments and lose acknowledged messages; two processes with one client id make
the broker hand the session back and forth ("session taken over") and split its messages.
The client id lock is best effort (a state directory that cannot be created only logs a
warning) and works only on one host; the spool lock is the one that guards data.
"""

from __future__ import annotations

import logging

from alertloop.services.ingester.config import IngesterConfig
from alertloop.services.ingester.errors import LockHeld
from alertloop.services.ingester.lock import ProcessLock
from alertloop.services.ingester.spool import Spool

__all__ = ["SEVERAL", "claim"]

log = logging.getLogger(__name__)

#: How to run several ingesters, said in every refusal.
SEVERAL = (
    "To run several ingesters, give each its own --client-id and --spool-dir, and the same "
    "--share-group so that they split the stream (docs/ingester.md, 'Running several ingesters')."
)


def claim(cfg: IngesterConfig, spool: Spool, client_lock: ProcessLock) -> None:
    """Open (and so lock) ``spool``, then take ``client_lock``.

    Raises LockHeld naming the holder, SpoolError when the spool cannot be opened. On a
    refused client id the spool stays open: the caller closes it.
    """
    try:
        spool.open(client_id=cfg.client_id, broker=cfg.safe_mqtt_url)
    except LockHeld as exc:
        raise LockHeld(
            f"{_holder(exc, 'client_id', 'host')}. Each ingester needs a spool of its own. "
            + SEVERAL,
            exc.holder,
        ) from None
    try:
        client_lock.path.parent.mkdir(parents=True, exist_ok=True)
        client_lock.acquire(
            f"the client id {cfg.client_id!r} at {cfg.safe_mqtt_url}",
            client_id=cfg.client_id,
            spool=str(cfg.spool_path),
        )
    except LockHeld as exc:
        raise LockHeld(
            f"{_holder(exc, 'spool', 'host')}. The broker keeps one connection per client "
            "id: two would take the session from each other and split its messages. " + SEVERAL,
            exc.holder,
        ) from None
    except OSError as exc:
        log.warning("cannot lock the client id on this host", extra={"error": str(exc)})


def _holder(exc: LockHeld, *keys: str) -> str:
    """The lock error with what the holder wrote about itself (``keys`` of its record)."""
    labels = {"client_id": "client id", "host": "host", "spool": "spool"}
    about = [f"{labels[key]} {exc.holder[key]}" for key in keys if exc.holder.get(key)]
    return f"{exc}{' [' + ', '.join(about) + ']' if about else ''}"
