"""What a failed open of one of the gateway's SQLite files means, in a store IT team's words (pure)."""

from __future__ import annotations

import sqlite3
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
