"""Tables outside a terminal (a pipe, CI, a log): one plain line a row, no box, no styles."""

from __future__ import annotations

import io

from rich.console import Console
from rich.table import Table
from rich.text import Text

from samoflow.cli.common import plain_rows, show_table


def _table() -> Table:
    table = Table("convoy", "done/total", "states", "completion notice")
    table.add_row("nightly", "3/3", "[yellow]done, not clean[/yellow]", "sent")
    table.add_row("small", "0/1", "", Text("not yet", style="bold"))
    return table


def test_each_row_is_its_first_cell_then_the_other_columns_by_name() -> None:
    assert plain_rows(_table()) == [
        "nightly: done/total: 3/3 · states: done, not clean · completion notice: sent",
        "small: done/total: 0/1 · completion notice: not yet",  # an empty cell is left out
    ]


def test_outside_a_terminal_the_lines_are_printed_whole_without_a_box() -> None:
    out = io.StringIO()
    narrow = Console(file=out, width=40, force_terminal=False)
    show_table(_table(), narrow)
    assert out.getvalue().splitlines() == plain_rows(_table())  # never cut at 40 columns
    empty = io.StringIO()
    show_table(Table("convoy", "states"), Console(file=empty, force_terminal=False))
    assert empty.getvalue() == "(none)\n"


def test_in_a_terminal_the_table_stays() -> None:
    out = io.StringIO()
    show_table(_table(), Console(file=out, width=120, force_terminal=True, color_system=None))
    assert "┃ convoy" in out.getvalue() and "nightly" in out.getvalue()
