"""The README's command table covers every command the CLIs have (sqlite-utils' test_docs idea)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer.main

from gateway.cli import app as gateway_app
from simulator.cli import app as sim_app

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def leaves(group: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Leaf command paths; typer vendors its own Click, so groups are recognised by their `commands`."""
    out = []
    for name, cmd in group.commands.items():
        if getattr(cmd, "hidden", False):
            continue
        if hasattr(cmd, "commands"):
            out += leaves(cmd, (*prefix, name))
        else:
            out.append((*prefix, name))
    return out


def table_rows(program: str) -> list[str]:
    return [line for line in README.splitlines() if line.startswith(f"| `{program} ")]


def test_every_command_is_in_the_readme_table() -> None:
    for program, app in (("proximity-gateway", gateway_app), ("proximity-sim", sim_app)):
        rows = table_rows(program)
        paths = leaves(typer.main.get_command(app))
        assert len(paths) >= 3
        for path in paths:
            *groups, name = path
            head = " ".join([program, *groups])
            ok = any(f"`{head} {name}" in row or (groups and f"`{head} " in row and f"`{name}" in row) for row in rows)
            assert ok, f"README's command table does not mention `{' '.join([program, *path])}`"
