"""A state file SQLite cannot open is named for what is wrong, not as a damaged database to delete."""

from __future__ import annotations

import sqlite3
from pathlib import Path

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
