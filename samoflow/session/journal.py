"""`_iteration.json`: the iteration in flight, so a restart resumes it instead of repeating it."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import psutil
from pydantic import BaseModel, ConfigDict, Field

from samoflow.atomic import atomic_write_model, read_model
from samoflow.clock import utcnow
from samoflow.session.history import Usage


class IterationJournal(BaseModel):
    model_config = ConfigDict(frozen=True)

    iteration: int
    phase: str
    attempt: int = 0  # attempts started so far
    started_at: datetime = Field(default_factory=utcnow)
    agent_pid: int | None = None
    agent_started: float | None = None  # psutil create_time: a reused pid is not our agent
    # Summed over attempts, failed ones included: a crashed attempt still cost tokens.
    usage: Usage = Field(default_factory=Usage)
    agent_seconds: float = 0.0
    # The fullest the agent's context got over the attempts, and its compactions.
    context_peak_tokens: int = 0
    context_window_tokens: int = 0
    compactions: int = 0


def read_journal(path: Path) -> IterationJournal | None:
    """The iteration in flight, or None: none there, or one nobody can read (a hand edit),
    which the orchestrator sets aside before its next act (`set_aside_unreadable`)."""
    try:
        return read_model(path, IterationJournal)
    except (ValueError, OSError):
        return None


def write_journal(path: Path, journal: IterationJournal) -> None:
    """Atomic, not fsynced: the journal guards against a crash of this process, which the
    page cache survives. After an OS crash the agent's own signal may be gone too (nothing
    syncs it), so the iteration is run again either way; the history row is the synced
    commit point."""
    atomic_write_model(path, journal, durable=False)


def process_alive(pid: int | None, started: float | None) -> bool:
    """The very process we started is still running (same pid AND same start time)."""
    if pid is None or started is None:
        return False
    try:
        process = psutil.Process(pid)
        same = abs(process.create_time() - started) < 0.01
        return same and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False
