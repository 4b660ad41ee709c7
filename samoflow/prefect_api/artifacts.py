"""What the Prefect UI shows for a session: its overview and a table of its iterations.

Stable keys, one version per key and flow run: the first publish of a run creates the
artifact, later ones (only when it changed) update that one in place, so the UI shows the
latest overview and progress, not a card per iteration.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import threading
from collections.abc import Callable, Iterator
from typing import cast
from uuid import UUID

from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import ArtifactUpdate
from prefect.runtime import flow_run

from samoflow.session.files import SessionFiles
from samoflow.session.history import EntryKind, HistoryEntry
from samoflow.session.repair import overview_problem
from samoflow.session.state import SessionState, load_state


def overview_key(session: str) -> str:
    return f"session-{session}-overview"


def progress_key(session: str) -> str:
    return f"session-{session}-progress"


# What this process last published per session: an artifact is written only when it changed.
_published: dict[tuple[str, str], str] = {}
COUNTER_LINES = re.compile(r"^(Iteration|Total Iterations):.*$", re.M)


@contextlib.contextmanager
def _if_changed(files: SessionFiles, kind: str, content: str) -> Iterator[bool]:
    """Yields whether `content` differs from what was last published; remembers it only
    once the block ran without an error (a failed publish is tried again next time)."""
    digest = hashlib.sha256(content.encode("utf-8")).hexdigest()
    key = (str(files.root), kind)
    yield _published.get(key) != digest
    _published[key] = digest


# (flow run, key) -> the artifact this process created for that run under that key.
_created: dict[tuple[str, str], UUID] = {}
_created_guard = threading.Lock()


def _publish(key: str, data: str, description: str, create: Callable[[], object]) -> None:
    """Create the keyed artifact once per flow run; afterwards update that one in place."""
    slot = (str(flow_run.id), key)
    with _created_guard:
        known = _created.get(slot)
    if known is None:
        artifact_id = cast(UUID, create())  # a sync context: the id, not a coroutine
        with _created_guard:
            _created[slot] = artifact_id
        return
    with get_client(sync_client=True) as client:
        client.update_artifact(known, ArtifactUpdate(data=data, description=description))


def _overview_markdown(files: SessionFiles) -> str:
    problem = overview_problem(files)
    if problem is not None:
        return f"_{problem}_"  # the artifact says why instead of failing the task forever
    if not files.overview.exists():
        return "_no overview yet_"
    return files.overview.read_text(encoding="utf-8", errors="replace")


def publish_session_artifacts(files: SessionFiles) -> None:
    """The overview and the iterations table, under stable keys, each only when it changed
    (a call, not a task run: it only shows what the files already hold)."""
    state = load_state(files)
    overview = _overview_markdown(files)
    # The counters samoflow bumps every iteration alone do not make a new overview version.
    story = COUNTER_LINES.sub("", overview)
    with _if_changed(files, "overview", f"{state.lifecycle}|{state.phase}|{story}") as due:
        if due:
            _publish_overview(files, overview, state)
    with _if_changed(files, "progress", f"{state.lifecycle}|{len(state.entries)}") as due:
        if due:
            _publish_progress(files, state)


def _publish_overview(files: SessionFiles, overview: str, state: SessionState) -> None:
    about = f"_overview.md of {files.name} ({state.lifecycle}, phase {state.phase})"
    key = overview_key(files.name)
    _publish(
        key, overview, about,
        lambda: create_markdown_artifact(key=key, markdown=overview, description=about),
    )


def _context(entry: HistoryEntry) -> str:
    """The iteration's peak context use of its window, and its compactions (Claude)."""
    if not entry.context_peak_tokens:
        return ""
    window = entry.context_window_tokens or 0
    share = f" ({entry.context_peak_tokens / window:.0%})" if window else ""
    compacted = f", {entry.compactions} compactions" if entry.compactions else ""
    return f"{entry.context_peak_tokens:,}/{window:,}{share}{compacted}"


def _publish_progress(files: SessionFiles, state: SessionState) -> None:
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
            "context peak": _context(entry),
            "note": (entry.reason or entry.summary or "")[:200],
        }
        for entry in state.entries
        if entry.kind is not EntryKind.SYSTEM or entry.reason or entry.summary
    ]
    summary = (
        f"{files.name}: {state.last_iteration} iterations, {state.lifecycle}, "
        f"${state.usage.cost_usd:.4f}"
    )
    key = progress_key(files.name)
    _publish(
        key, json.dumps(rows), summary,
        lambda: create_table_artifact(key=key, table=rows, description=summary),
    )
