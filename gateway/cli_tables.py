"""Tables for people at a terminal: whole cells, or a block per row where the table does not fit.

Rich fits a wide table to a narrow terminal by cutting cells (`NEXT-VISIT…`) or folding them mid-word (`dwel` /
`l`). Staff copy ids and offer codes out of these tables, so neither is acceptable; a block of `column  value`
lines per row reads as well in 80 columns as in 200.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.markup import escape
from rich.table import Table

BORDER_PER_COLUMN = 3  # a rule and one space of padding either side


def table_width(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> int:
    """Characters the table needs with no cell wrapped (a cell's lines are its own)."""
    return 1 + sum(
        BORDER_PER_COLUMN + max([len(col), *(len(line) for row in rows for line in row[i].splitlines())])
        for i, col in enumerate(columns)
    )


def print_rows(
    console: Console,
    title: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[str]],
    styles: Sequence[str | None] | None = None,
) -> None:
    """A table when it fits the console's width, else a block per row; a cell's lines are joined by '; ' there."""
    if table_width(columns, rows) <= console.width:
        table = Table(title=escape(title))
        for col in columns:
            table.add_column(col, no_wrap=True)
        for i, row in enumerate(rows):
            table.add_row(*map(escape, row), style=styles[i] if styles else None)  # "coffee[b]" is not markup
        console.print(table)
        return
    console.print(title, markup=False)
    width = max(map(len, columns))
    for i, row in enumerate(rows):
        console.print(markup=False)
        for name, value in zip(columns, row, strict=True):
            line = f"  {name:<{width}}  " + "; ".join(value.splitlines())
            # soft wrap: a value longer than the terminal is left to the terminal, never folded or cut by rich
            console.print(line, markup=False, style=styles[i] if styles else None, soft_wrap=True)
    console.print(markup=False)
