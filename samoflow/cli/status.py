"""`samoflow status [--watch]`: one row per session, dead orchestrators and unreadable files
named as such; one broken session never hides the others."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer
from pydantic import BaseModel, ConfigDict
from rich.live import Live
from rich.table import Table

from samoflow.cli.common import RepoOption, console, project_config, show_table
from samoflow.clock import utcnow
from samoflow.delivery.status import Verification, verification_of
from samoflow.health.lease import LeaseError, Liveness, liveness, read_lease
from samoflow.session.files import SessionFiles
from samoflow.session.repair import folders_without_spec, spec_missing_message
from samoflow.session.state import Lifecycle, SessionReport, report_of
from samoflow.session.store import list_sessions
from samoflow.settings import get_settings

DEAD = "dead"  # active, but the lease's process is gone or its heartbeat is stale
STOPPED = "stopped"  # active, and no orchestrator holds its lease
UNREADABLE = "unreadable"
NAME_WIDTH = 32
NOTE_WIDTH = 60


class StatusRow(BaseModel):
    """What `status` shows for one session folder."""

    model_config = ConfigDict(frozen=True)

    session: str
    state: str  # a lifecycle, or dead / stopped / unreadable
    note: str = ""
    report: SessionReport | None = None  # None: the folder could not be read
    verification: Verification | None = None


def clip(text: str, width: int) -> str:
    """Cut visibly: a reader must know there is more."""
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _orchestrator(files: SessionFiles, report: SessionReport) -> tuple[str, str] | None:
    """(state, note) when an active session has no live orchestrator, else None."""
    if report.lifecycle is not Lifecycle.ACTIVE:
        return None
    fix = f"resume: samoflow run --session {files.name}"  # first: the table cuts the note
    lease = read_lease(files.lease)
    if lease is None:
        return STOPPED, f"{fix} (no orchestrator runs it)"
    seen = liveness(lease, now=utcnow(), stale_seconds=get_settings().lease_stale_seconds)
    if seen is Liveness.DEAD:
        return DEAD, f"{fix} (its orchestrator, pid {lease.pid}, is gone)"
    if seen is Liveness.HUNG:
        age = lease.heartbeat_age(utcnow())
        return DEAD, f"{fix} (its orchestrator, pid {lease.pid}, silent for {age:.0f} s)"
    return None


def status_row(files: SessionFiles) -> StatusRow:
    if not files.spec.exists():
        return StatusRow(
            session=files.name, state=UNREADABLE, note=f"unreadable: {spec_missing_message(files)}"
        )
    try:
        report = report_of(files)
        verification = verification_of(files)
        dead = _orchestrator(files, report)
    except (ValueError, OSError, LeaseError) as error:  # HistoryError and pydantic's included
        return StatusRow(session=files.name, state=UNREADABLE, note=f"unreadable: {error}")
    state, note = dead or (report.lifecycle, report.reason or report.summary or "")
    return StatusRow(
        session=files.name, state=state, note=note, report=report, verification=verification
    )


def status_rows(sessions_root: Path) -> list[StatusRow]:
    names = sorted({*list_sessions(sessions_root), *folders_without_spec(sessions_root)})
    return [status_row(SessionFiles(sessions_root / name)) for name in names]


# In a narrow terminal: what goes first (the session, its state and the note always stay).
STATUS_DROP_FIRST = ("tokens in/out", "context", "pull request", "cost $", "iterations",
                     "phase", "verified")


def status_table(rows: list[StatusRow]) -> Table:
    table = Table(
        "session", "state", "phase", "iterations", "cost $", "tokens in/out", "context",
        "verified", "pull request", "note",
    )
    for row in rows:
        table.add_row(clip(row.session, NAME_WIDTH), row.state, *_figures(row),
                      clip(row.note, NOTE_WIDTH))
    return table


def _figures(row: StatusRow) -> list[str]:
    r, v = row.report, row.verification
    if r is None or v is None:
        return [""] * 7
    peak = r.context_peak_tokens
    return [
        r.phase,
        str(r.iterations),
        f"{r.usage.cost_usd:.4f}",
        f"{r.usage.input_tokens}/{r.usage.output_tokens}",
        f"{peak:,} peak, {r.compactions} compacted" if peak else "",
        v.verified,
        v.pull_request_url or "-",
    ]


def _as_json(rows: list[StatusRow]) -> str:
    listed = [
        {**row.report.model_dump(mode="json"), **_dump(row.verification), "state": row.state,
         "note": row.note}
        if row.report is not None
        else {"session": row.session, "lifecycle": UNREADABLE, "state": row.state,
              "note": row.note}
        for row in rows
    ]
    return json.dumps(listed, indent=2)


def _dump(verification: Verification | None) -> dict[str, object]:
    return verification.model_dump(mode="json") if verification is not None else {}


def _watch(sessions_root: Path, interval: float, count: int | None) -> None:
    """In a terminal, one table refreshed in place; otherwise a new table every interval."""
    shown = 0
    try:
        if console.is_terminal:
            with Live(status_table(status_rows(sessions_root)), console=console,
                      auto_refresh=False) as live:
                shown = 1
                while count is None or shown < count:
                    time.sleep(interval)  # the refresh cadence the user asked for
                    live.update(status_table(status_rows(sessions_root)), refresh=True)
                    shown += 1
            return
        while count is None or shown < count:
            if shown:
                time.sleep(interval)
            console.print(f"samoflow status at {utcnow():%Y-%m-%d %H:%M:%S} UTC")
            show_table(status_table(status_rows(sessions_root)), drop_first=STATUS_DROP_FIRST)
            shown += 1
    except KeyboardInterrupt:
        return


def status(
    repo: RepoOption = Path("."),
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    watch: Annotated[bool, typer.Option(help="Refresh until Ctrl-C.")] = False,
    interval: Annotated[float, typer.Option(help="Seconds between refreshes.", min=0.05)] = 2.0,
    count: Annotated[
        int | None, typer.Option(help="With --watch: stop after this many tables.", min=1)
    ] = None,
) -> None:
    """Every session: state, phase, iterations, cost, last note (dead and unreadable named)."""
    sessions_root = project_config(repo).sessions
    if as_json:
        typer.echo(_as_json(status_rows(sessions_root)))
    elif watch:
        _watch(sessions_root, interval, count)
    else:
        show_table(status_table(status_rows(sessions_root)), drop_first=STATUS_DROP_FIRST)
