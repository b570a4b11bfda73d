"""The consoles both CLIs print through: text as written, for people and for scripts that grep it.

rich's defaults rewrite text: `:100:` and `:1234:` become emoji (a bad line 100 read `scans.jsonl💯`) and numbers,
paths and quoted words are coloured. Messages name files, lines and fields, so every console is built here.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console


def cli_console(*, stderr: bool = False, soft_wrap: bool = False, highlight: bool = False, **kw: Any) -> Console:
    """`soft_wrap`: one problem stays one line however narrow the terminal (or a pipe, which rich takes as 80
    columns); tables and live readouts wrap instead. `highlight` only where nothing is copied out (progress bars)."""
    return Console(stderr=stderr, soft_wrap=soft_wrap, highlight=highlight, emoji=False, **kw)
