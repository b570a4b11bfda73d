"""A state file SQLite cannot open is named for what is wrong, not as a damaged database to delete."""

from __future__ import annotations

import importlib
import sqlite3
from pathlib import Path

import pytest

from gateway.sqlite_open import open_problem


def test_a_full_disk_is_not_called_an_unusable_database() -> None:
    """ "not a usable history database: database or disk is full" could send someone to delete history.db, which
    holds the campaigns' cooldowns and caps."""
    path = Path("/var/lib/proximity-gateway/history.db")
    got = open_problem(path, "history database", sqlite3.OperationalError("database or disk is full"))
    assert got == (
        f"{path}: cannot open the history database: the disk is full (free space there; the file itself is not "
        "at fault)"
    )
    damaged = open_problem(path, "history database", sqlite3.DatabaseError("file is not a database"))
    assert damaged == f"{path}: not a usable history database: file is not a database"


STORES = [
    ("history.db", "gateway.campaigns.history", "SqliteHistory", "HistoryError", "history database"),
    ("outbox.db", "gateway.delivery.outbox", "Outbox", "OutboxError", "outbox"),
    ("registry.db", "gateway.identity.registry", "Registry", "RegistryError", "registry database"),
]
# what moving the file aside would cost: said for each, and for the registry, not to (it holds the revocations)
ASIDE = {
    "history.db": "or move it aside, and the campaigns' cooldowns and caps start afresh",
    "outbox.db": "or move it aside, and the messages it holds are never sent",
    "registry.db": "do not move it aside: it holds the revocations",
}


@pytest.mark.parametrize(("name", "module", "cls", "error", "kind"), STORES)
def test_a_file_a_newer_version_wrote_is_refused_in_one_line(
    tmp_path: Path, name: str, module: str, cls: str, error: str, kind: str
) -> None:
    """A downgrade (a rollback across a fleet) opened the newer files as its own: it worked only while the tables
    happened to match, and nothing would have said when they stopped (a fleet sweep)."""
    mod = importlib.import_module(module)
    path = tmp_path / name
    store = getattr(mod, cls)(path)
    store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == mod.LAYOUT_VERSION  # marked when made
        db.execute(f"PRAGMA user_version = {mod.LAYOUT_VERSION + 1}")
    with pytest.raises(getattr(mod, error)) as e:
        getattr(mod, cls)(path)
    assert str(e.value).startswith(
        f"{path}: the {kind} was written by a newer version of the gateway (layout {mod.LAYOUT_VERSION + 1}; this one "
        f"knows up to {mod.LAYOUT_VERSION}): install that version again; {ASIDE[name]}"
    )


@pytest.mark.parametrize(("name", "module", "cls", "error", "kind"), STORES)
def test_a_file_from_before_the_mark_opens_and_is_marked(
    tmp_path: Path, name: str, module: str, cls: str, error: str, kind: str
) -> None:
    mod = importlib.import_module(module)
    path = tmp_path / name
    getattr(mod, cls)(path).close()
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 0")  # what every version before session 24 left
    getattr(mod, cls)(path).close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == mod.LAYOUT_VERSION
