"""`samoflow monitor`: sweep a project's sessions once or on an interval, from a terminal.

It runs the sweep in this process, without Prefect, so it keeps working when the Prefect
API is down; the scheduled `samoflow-monitor` flow runs the same sweep as a flow run.
"""

from __future__ import annotations

import threading
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from samoflow.cli.common import show_table
from samoflow.health.monitor import Monitor, SessionCheck, summarize, sweep
from samoflow.notices.notice import Notice
from samoflow.project import ProjectError, load_config
from samoflow.settings import get_settings
from samoflow.workspace.worktrees import RepoError, open_repo

console = Console()


def print_notice(notice: Notice) -> None:
    """The terminal notifier; the Slack channel plugs in as another `Notifier`."""
    console.print(f"[bold red]{notice.plain_text()}[/bold red]")


def show_checks(checks: list[SessionCheck], *, every_session: bool) -> None:
    if every_session:
        table = Table("session", "verdict", "pid", "detail")
        for check in checks:
            table.add_row(check.session, check.verdict, str(check.pid or ""), check.detail[:100])
        show_table(table, console)
        return
    for line in summarize(checks):
        console.print(f"{datetime.now():%H:%M:%S} {line}", soft_wrap=True)


def run_monitor(sessions: Path, watcher: Monitor, *, once: bool, every: float) -> None:
    """Sweep now, then every `every` seconds until Ctrl-C (or just once)."""
    if not once:
        console.print(f"monitoring {sessions} every {every:g} s (Ctrl-C stops)", soft_wrap=True)
    stop = threading.Event()
    try:
        while True:
            show_checks(sweep(sessions, watcher), every_session=once)
            if once or stop.wait(every):
                return
    except KeyboardInterrupt:
        console.print("monitor stopped")


def monitor(
    once: Annotated[bool, typer.Option(help="One sweep, then exit.")] = False,
    interval: Annotated[
        float | None, typer.Option(help="Seconds between sweeps (default: the setting).")
    ] = None,
    repo: Annotated[Path, typer.Option("--repo", help="The project's git repository.")] = Path("."),
) -> None:
    """Restart sessions whose orchestrator died (backoff, crash-loop lockout)."""
    try:
        open_repo(repo.resolve())
        sessions = load_config(repo.resolve()).sessions
    except (RepoError, ProjectError) as error:
        console.print(f"[red]error:[/red] {error}")
        raise typer.Exit(code=2) from error
    settings = get_settings()
    every = interval if interval is not None else settings.monitor_interval_seconds
    run_monitor(sessions, Monitor(settings=settings, notify=print_notice), once=once, every=every)


if __name__ == "__main__":
    typer.run(monitor)
