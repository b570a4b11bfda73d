"""A customer's data across the gateway's stores: erase on revocation, export on a data request.

The registry holds keys, the history holds presence and coupons, the outbox holds messages not yet sent.
Revocation must reach all three whether or not the daemon is running, so the CLI and the daemon both call
these functions (SQLite in WAL mode lets both processes write safely).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from gateway.campaigns.history import SqliteHistory
from gateway.delivery.outbox import Outbox

log = logging.getLogger(__name__)

HISTORY_FILE = "history.db"
OUTBOX_FILE = "outbox.db"


def erase_customers(state_dir: Path, customer_ids: Iterable[str]) -> int:
    """Deletes these customers' presence history and queued-but-unsent messages, each store opened once; returns
    the messages dropped."""
    ids = list(customer_ids)
    dropped = 0
    if ids and (state_dir / HISTORY_FILE).exists():
        history = SqliteHistory(state_dir / HISTORY_FILE)
        try:
            for customer_id in ids:
                history.delete_customer(customer_id)
        finally:
            history.close()
    if ids and (state_dir / OUTBOX_FILE).exists():
        outbox = Outbox(state_dir / OUTBOX_FILE)
        try:
            dropped = sum(outbox.delete_customer(customer_id) for customer_id in ids)
        finally:
            outbox.close()
    return dropped


def purge_revoked(history: SqliteHistory, outbox: Outbox, consenting: set[str]) -> list[str]:
    """At start: erases what is left of customers revoked while the daemon was not running. Both stores are
    asked: a revocation whose erasure stopped half way (an unreadable outbox) leaves queued messages of a
    customer whose history is already gone, and those must not be published."""
    gone = sorted((history.customer_ids() | outbox.customer_ids()) - consenting)
    for customer_id in gone:
        history.delete_customer(customer_id)
        outbox.delete_customer(customer_id)
    if gone:
        log.info("erased the stored history of %d customers revoked while the gateway was stopped", len(gone))
    return gone


def export_history(state_dir: Path, customer_id: str) -> dict[str, Any]:
    """The history part of a data-request export (empty when the gateway never ran)."""
    if not (state_dir / HISTORY_FILE).exists():
        return {}
    history = SqliteHistory(state_dir / HISTORY_FILE)
    try:
        return history.export_customer(customer_id)
    finally:
        history.close()


def export_outbox(state_dir: Path, customer_id: str) -> list[dict[str, Any]]:
    """The outbox part of a data-request export: the customer's messages not yet acknowledged by the broker
    (revocation and an ended consent delete them, so they are the customer's data too)."""
    if not (state_dir / OUTBOX_FILE).exists():
        return []
    outbox = Outbox(state_dir / OUTBOX_FILE)
    try:
        return outbox.export_customer(customer_id)
    finally:
        outbox.close()
