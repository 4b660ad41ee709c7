"""`samoflow listen`: act on replies to notices from this terminal (when nothing serves it)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from samoflow.cli.common import RepoOption, console, project_config


def listen(
    repo: RepoOption = Path("."),
    seconds: Annotated[
        float | None, typer.Option(help="Listen this long, then end (default: until Ctrl-C).")
    ] = None,
) -> None:
    """Long-poll Telegram and Slack threads; replies answer gates, reach inboxes, or command."""
    project_config(repo)
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from samoflow.flows.listen import listen_flow  # Prefect loads only for this command

    while True:
        for item in listen_flow(str(repo.resolve()), seconds or 300.0):
            what = f"ignored: {item.ignored}" if item.ignored else f"{item.action}: {item.answer}"
            console.print(f"{item.channel} {item.ref} {item.session or ''} {what}")
        if seconds is not None:
            return
