"""Tables at a terminal: whole cells in a table that fits, a block per row otherwise (gateway/cli_tables.py)."""

from __future__ import annotations

import io

from hypothesis import example, given
from hypothesis import strategies as st
from rich.console import Console

from gateway.cli_tables import print_rows, table_width

words = st.text(alphabet="abcdefghij-[]/", min_size=1, max_size=30)  # brackets: "coffee[b]" is a name, not markup
cells = st.lists(words, min_size=1, max_size=3).map("\n".join)


def shown(width: int, columns: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    buf = io.StringIO()
    print_rows(Console(file=buf, width=width, highlight=False), "title", columns, rows)
    return buf.getvalue()


@given(st.integers(min_value=20, max_value=200), st.lists(st.tuples(cells, cells, cells), max_size=5))
@example(20, [("a", "b", "c" * 30)])  # an offer code longer than the terminal: rich folded it
def test_every_cell_is_shown_whole_at_any_width(width: int, rows: list[tuple[str, str, str]]) -> None:
    out = shown(width, ("id", "rule", "offer"), rows)
    assert "…" not in out
    for row in rows:
        for cell in row:
            for word in cell.splitlines():
                assert word in out  # never cut, never folded mid-word
    if table_width(("id", "rule", "offer"), rows) <= width:
        assert max(map(len, out.splitlines())) <= width  # the table is printed, within the terminal


def test_an_empty_list_is_a_table_with_its_header() -> None:
    out = shown(80, ("customer", "consent"), [])
    assert "customer" in out and "consent" in out
