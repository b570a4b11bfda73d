"""Opening the gateway's SQLite files: private modes, a layout version, and what a failed open means in a store IT
team's words."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path


def open_problem(path: Path, kind: str, e: sqlite3.Error) -> str:
    """One line for `e`, raised opening the `kind` ("history database") at `path`. SQLite says "database or disk is
    full" for a full disk, and "not a usable database" read as a damaged file could send someone to delete the one
    holding the campaigns' cooldowns and caps."""
    text = str(e)
    if "disk is full" in text:
        return f"{path}: cannot open the {kind}: the disk is full (free space there; the file itself is not at fault)"
    if "unable to open database file" in text:
        return f"{path}: cannot open the {kind}: its directory is missing or not writable"
    return f"{path}: not a usable {kind}: {text}"


PRIVATE_MODE = 0o600


def create_private(path: Path) -> None:
    """Creates `path` readable by its owner only before SQLite opens it (the files hold customers' keys and
    movements; SQLite gives -wal/-shm the main file's mode), and tightens it and its sidecars where a copy or a
    restore left them wider. Raises OSError."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)  # a new state directory: the owner's alone
    fd = os.open(path, os.O_RDWR | os.O_CREAT, PRIVATE_MODE)
    try:
        if stat.S_IMODE(os.fstat(fd).st_mode) & 0o077:
            os.fchmod(fd, PRIVATE_MODE)
    finally:
        os.close(fd)
    for suffix in ("-wal", "-shm"):
        side = path.with_name(path.name + suffix)
        try:
            if stat.S_IMODE(side.stat().st_mode) & 0o077:
                os.chmod(side, PRIVATE_MODE)
        except FileNotFoundError:
            pass


def schema_problem(db: sqlite3.Connection, path: Path, kind: str, version: int, aside: str) -> str | None:
    """Marks a file with the layout `version` this code writes (SQLite's user_version), or says why it must not be
    opened: a newer version of the gateway wrote it, and this one would misread what it does not know. Files from
    before the mark (0) are taken as version 1, whose tables every later version keeps. `aside`: what moving the
    file aside would cost, or why not to."""
    found = int(db.execute("PRAGMA user_version").fetchone()[0])
    if found > version:
        return (
            f"{path}: the {kind} was written by a newer version of the gateway (layout {found}; this one knows up "
            f"to {version}): install that version again; {aside}"
        )
    if found < version:
        db.execute(f"PRAGMA user_version = {int(version)}")
    return None
