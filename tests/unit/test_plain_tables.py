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


def _status_like() -> Table:
    table = Table("session", "state", "phase", "tokens in/out", "pull request", "verified", "note")
    table.add_row("add-a-greeting-in-french", "blocked", "implementation", "120000/3400", "-",
                  "checks red", "the tests need a database that is not running here")
    table.add_row("b", "done", "done", "10/2", "-", "checks green", "greeting added")
    return table


def _shown(table: Table, width: int, drop_first: tuple[str, ...]) -> list[str]:
    out = io.StringIO()
    show_table(table, Console(file=out, width=width, force_terminal=True, color_system=None),
               drop_first)
    return out.getvalue().splitlines()


def test_a_narrow_terminal_drops_columns_in_order_and_cuts_no_cell() -> None:
    lines = _shown(_status_like(), 80, ("tokens in/out", "phase", "verified"))
    assert all(len(line) <= 80 for line in lines)
    header = next(line for line in lines if "session" in line)
    assert "tokens" not in header and "pull request" not in header  # dropped, empty
    assert "state" in header and "note" in header
    text = "\n".join(lines)
    assert "add-a-greeting-in-french" in text and "blocked" in text and "…" not in text
    assert "database" in text and "running here" in text  # the note wraps, never cut
    hint = " ".join(text[text.index("not shown at this width"):].split())
    assert hint.startswith("not shown at this width: phase, tokens in/out (")
    assert "pull request" not in hint  # an empty column is not worth a mention


def test_a_wide_terminal_keeps_every_column_that_says_something() -> None:
    lines = _shown(_status_like(), 200, ("tokens in/out", "phase", "verified"))
    header = next(line for line in lines if "session" in line)
    for name in ("state", "phase", "tokens in/out", "verified", "note"):
        assert name in header
    assert "pull request" not in header  # every cell "-"
    assert not any(line.startswith("not shown") for line in lines)
