"""What the Prefect UI shows for a session: its overview and a table of its iterations."""

from __future__ import annotations

from prefect.artifacts import create_markdown_artifact, create_table_artifact

from samoflow.session.files import SessionFiles
from samoflow.session.history import EntryKind
from samoflow.session.state import load_state


def overview_key(session: str) -> str:
    return f"session-{session}-overview"


def progress_key(session: str) -> str:
    return f"session-{session}-progress"


def publish_session_artifacts(files: SessionFiles) -> None:
    """The overview and the iterations table, under stable keys (a call, not a task run: it
    only shows what the files already hold)."""
    state = load_state(files)
    overview = (
        files.overview.read_text(encoding="utf-8", errors="replace")
        if files.overview.exists()
        else "_no overview yet_"
    )
    create_markdown_artifact(
        key=overview_key(files.name),
        markdown=overview,
        description=f"_overview.md of {files.name} ({state.lifecycle}, phase {state.phase})",
    )
    rows = [
        {
            "iteration": entry.iteration,
            "kind": entry.kind.value,
            "phase": entry.phase,
            "signal": entry.status or "",
            "outcome": entry.outcome.value,
            "next phase": entry.next_phase or "",
            "attempts": entry.attempts,
            "duration s": entry.duration_seconds,
            "cost usd": entry.usage.cost_usd,
            "tokens in/out": f"{entry.usage.input_tokens}/{entry.usage.output_tokens}",
            "note": (entry.reason or entry.summary or "")[:200],
        }
        for entry in state.entries
        if entry.kind is not EntryKind.SYSTEM or entry.reason or entry.summary
    ]
    create_table_artifact(
        key=progress_key(files.name),
        table=rows,
        description=(
            f"{files.name}: {state.last_iteration} iterations, {state.lifecycle}, "
            f"${state.usage.cost_usd:.4f}"
        ),
    )
