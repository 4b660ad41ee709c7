"""What every samoflow command shares: the console, the --repo option, errors as exit 2."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console, RenderableType
from rich.table import Table
from rich.text import Text

from samoflow.agents.scenario import ScenarioError
from samoflow.names import InvalidNameError
from samoflow.project import ProjectConfig, ProjectError, load_config
from samoflow.session.store import SessionError
from samoflow.workspace.worktrees import RepoError, open_repo

if TYPE_CHECKING:
    from samoflow.serve.reach import Route

console = Console()
# Mistakes a user can fix: printed as one line, exit code 2, never a traceback.
USER_ERRORS = (InvalidNameError, SessionError, RepoError, ProjectError, ScenarioError, ValueError)
RepoOption = Annotated[Path, typer.Option("--repo", help="The project's git repository.")]


def show_table(table: Table, on: Console = console, drop_first: Sequence[str] = ()) -> None:
    """A table in a terminal, fitted to its width; elsewhere (a pipe, CI, a log file) one
    plain line a row: there a table is cut to 80 columns and each cell wrapped over lines."""
    if on.is_terminal:
        fitted, hidden = fit_to_width(table, on.width, drop_first)
        on.print(fitted)
        if hidden:
            on.print(f"[dim]not shown at this width: {', '.join(hidden)} (a wider terminal, "
                     "or a pipe, shows every column)[/dim]", highlight=False)
        return
    for line in plain_rows(table) or ["(none)"]:
        on.print(line, highlight=False, soft_wrap=True, markup=False)


# A box table spends 3 characters a column on its border and padding, and 1 at the end.
_BORDER_PER_COLUMN = 3
# What the last column (the free text: a note, a reason) is given before others are dropped.
_LAST_COLUMN_AT_LEAST = 24


def fit_to_width(
    table: Table, width: int, drop_first: Sequence[str] = ()
) -> tuple[Table, list[str]]:
    """The columns a terminal of `width` can show whole, and the headers left out.

    Columns with nothing to say (every cell empty or "-") go first, then those named in
    `drop_first`, in order, until the rest fits. The first column (what the row is) never
    wraps or is cut; the others do not wrap, and the last one, the free text, wraps in what
    is left. Cutting every cell to "sess…" at 80 columns showed nothing at all."""
    headers = [_plain(column.header) for column in table.columns]
    cells = [list(column.cells) for column in table.columns]
    texts = [[_plain(cell) for cell in column] for column in cells]
    keep = [n for n, column in enumerate(texts)
            if n == 0 or not column or any(text not in ("", "-") for text in column)]

    def needed(kept: list[int]) -> int:
        widths = [max([Text(headers[n]).cell_len, *(Text(t).cell_len for t in texts[n])])
                  for n in kept]
        if len(kept) > 1:
            widths[-1] = min(widths[-1], _LAST_COLUMN_AT_LEAST)
        return sum(widths) + _BORDER_PER_COLUMN * len(kept) + 1

    for header in drop_first:
        if needed(keep) <= width:
            break
        keep = [n for n in keep if headers[n] != header or n == 0]
    fitted = Table(title=table.title, show_lines=table.show_lines)
    for n in keep:
        column = table.columns[n]
        last = n == keep[-1] and len(keep) > 1
        fitted.add_column(column.header, justify=column.justify, style=column.style,
                          no_wrap=not last, overflow="fold" if last else "ellipsis",
                          min_width=needed([n]) - _BORDER_PER_COLUMN - 1 if n == 0 else None)
    for row in zip(*(cells[n] for n in keep), strict=True):
        fitted.add_row(*row)
    # Only what had something to say is worth naming as not shown.
    hidden = [headers[n] for n in range(len(headers))
              if n not in keep and any(text not in ("", "-") for text in texts[n])]
    return fitted, hidden


def plain_rows(table: Table) -> list[str]:
    """Each row as `first cell: header: value · header: value` (empty cells left out)."""
    headers = [_plain(column.header) for column in table.columns]
    columns = [[_plain(cell) for cell in column.cells] for column in table.columns]
    lines = []
    for row in zip(*columns, strict=True):
        fields = [f"{header}: {value}" for header, value in zip(headers[1:], row[1:], strict=True)
                  if value]
        lines.append(f"{row[0]}: {' · '.join(fields)}" if fields else row[0])
    return lines


def _plain(cell: RenderableType) -> str:
    """A cell's text without its style: a string cell is rich markup, as the table reads it."""
    if isinstance(cell, Text):
        return cell.plain
    return Text.from_markup(cell).plain if isinstance(cell, str) else str(cell)


def fail(message: str) -> NoReturn:
    console.print(f"[red]error:[/red] {message}", soft_wrap=True)
    raise typer.Exit(code=2)


def project_config(repo: Path) -> ProjectConfig:
    try:
        open_repo(repo.resolve())
        return load_config(repo.resolve())
    except USER_ERRORS as error:
        fail(str(error))


def reach_prefect(*, writes: bool = True) -> Route:
    """The one way every command reaches Prefect (see `samoflow.serve.reach`).

    Sets PREFECT_API_URL for this process (and what it starts) before Prefect is imported:
    Prefect reads it once, at import.
    """
    from samoflow.serve.local import ServedError, default_home
    from samoflow.serve.reach import ReachError, choose

    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    try:
        route = choose(default_home(), os.environ, writes=writes, announce=console.print)
    except (ReachError, ServedError) as error:
        fail(str(error))
    if route.api_url is not None:
        os.environ["PREFECT_API_URL"] = route.api_url
    return route


def start_deployment_run(
    api_url: str, deployment: str, parameters: dict[str, str], label: str
) -> str:
    """A run of a served deployment, not waited for: the worker runs it, the UI shows it."""
    from prefect.client.schemas.objects import FlowRun
    from prefect.deployments import run_deployment

    run = run_deployment(
        deployment,
        parameters=parameters,
        timeout=0,  # do not wait: the worker runs it
        flow_run_name=label,
        tags=["samoflow", label],
    )
    assert isinstance(run, FlowRun)  # called outside an event loop: the sync variant
    return str(run.id)


def run_link(api_url: str, run_id: str) -> str:
    return f"{ui_of(api_url)}/runs/flow-run/{run_id}"


def ui_of(api_url: str) -> str:
    return api_url.rsplit("/api", 1)[0]


LATER_UI = "`.venv/bin/prefect server start` shows the same runs at http://127.0.0.1:4200"


def ui_hint(route: Route) -> str:
    """Where this run's UI is: the server it went to. The shared local server and Prefect's
    temporary one keep their runs in Prefect's local database, which a `prefect server start`
    later serves too (`samoflow up`'s own PostgreSQL does not hold them)."""
    from samoflow.serve.reach import Source
    from samoflow.settings import get_settings

    if route.source is Source.SHARED and route.api_url:
        idle = get_settings().local_server_idle_seconds
        return (
            f"{ui_of(route.api_url)} while the local server runs (it stops {idle:.0f} s after "
            f"the last command); then {LATER_UI}"
        )
    if route.api_url:
        return ui_of(route.api_url)
    return LATER_UI
