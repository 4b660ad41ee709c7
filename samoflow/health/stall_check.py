"""The stall handler's decision, made from the session's files alone (ground truth first).

The automation only knows that no heartbeat arrived in time; before a step is taken the
files must agree: the session is active (a human gate is exempt), an agent attempt is in
flight and its orchestrator is alive, and `_progress.json` shows no recent progress.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from samoflow.health.lease import Liveness, liveness, read_lease
from samoflow.health.progress import read_progress
from samoflow.health.stall import Sighting, StallAction, StallStep, Thresholds, take_step
from samoflow.session.files import SessionFiles
from samoflow.session.journal import IterationJournal, process_alive, read_journal
from samoflow.session.state import Lifecycle, load_state
from samoflow.session.store import find_session, worker_files
from samoflow.settings import Settings

AUTOMATION = "automation"


@dataclass(frozen=True)
class StallCheck:
    """A step taken, or why none was; `watch_on` says whether the stall watch goes on."""

    step: StallStep | None
    detail: str
    watch_on: bool


def locate_session(
    session_dir: str | None, session: str | None, sessions_root: str | None
) -> SessionFiles:
    """The folder by path, or by name under a sessions root (`coord--worker` for a worker)."""
    if session_dir:
        files = SessionFiles(Path(session_dir))
        if not files.spec.exists():
            raise ValueError(f"{session_dir} is not a samoflow session folder")
        return files
    if not session or not sessions_root:
        raise ValueError("give session_dir, or session and sessions_root")
    coordinator, _, worker = session.partition("--")
    files = find_session(Path(sessions_root), coordinator)
    return worker_files(files, worker) if worker else files


def _in_flight(files: SessionFiles, settings: Settings, now: datetime) -> IterationJournal | str:
    """The attempt in flight, or why there is nothing to act on."""
    state = load_state(files)
    if state.lifecycle is not Lifecycle.ACTIVE and state.lifecycle is not Lifecycle.NEW:
        return f"the session is {state.lifecycle}" + (
            " (a human gate: exempt)" if state.lifecycle is Lifecycle.WAITING else ""
        )
    journal = read_journal(files.journal)
    if journal is None or not process_alive(journal.agent_pid, journal.agent_started):
        return "no agent is running (between iterations, or running workers)"
    lease = read_lease(files.lease)
    alive = (
        liveness(lease, now=now, stale_seconds=settings.lease_stale_seconds)
        if lease is not None
        else None
    )
    if alive is not Liveness.ALIVE:
        return f"its orchestrator is {alive or 'gone'}: the monitor restarts it"
    return journal


def check_for_stall(files: SessionFiles, settings: Settings, now: datetime) -> StallCheck:
    found = _in_flight(files, settings, now)
    if isinstance(found, str):
        return StallCheck(step=None, detail=found, watch_on=False)
    progress = read_progress(files)
    progress_at, last_seen = found.started_at, "the iteration start"
    if progress is not None and progress.iteration == found.iteration:
        progress_at, last_seen = max(progress.at, found.started_at), progress.what
    sighting = Sighting(
        iteration=found.iteration,
        attempt=found.attempt,
        progress_at=progress_at,
        last_seen=last_seen,
        now=now,
        by=AUTOMATION,
    )
    thresholds = Thresholds(settings.stall_seconds, settings.stall_escalate_seconds)
    step = take_step(files, sighting, thresholds)
    if step is None:
        return StallCheck(
            step=None,
            detail=f"idle {sighting.idle_seconds:.0f} s: no step due yet "
            "(recent progress, or a recent step)",
            watch_on=True,
        )
    return StallCheck(step=step, detail=step.reason, watch_on=step.action is not StallAction.BLOCK)
