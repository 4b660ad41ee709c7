"""`_restarts.json`: every restart the monitor made and every crash-loop lockout, and the
backoff they imply."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from samoflow.atomic import atomic_write_model, read_model
from samoflow.session.files import SessionFiles
from samoflow.session.history import HistoryEntry, Outcome, system_entry
from samoflow.session.state import Lifecycle, SessionState
from samoflow.settings import Settings


class RestartEvent(BaseModel):
    model_config = ConfigDict(frozen=True)

    at: datetime
    dead_pid: int
    new_pid: int | None  # None: the launch itself failed
    why: str
    log: str | None = None


class Lockout(BaseModel):
    model_config = ConfigDict(frozen=True)

    at: datetime
    reason: str
    notified: bool = False


class RestartLog(BaseModel):
    """`_restarts.json`: the monitor's restarts of one session and its crash-loop lockouts."""

    model_config = ConfigDict(frozen=True)

    restarts: tuple[RestartEvent, ...] = ()
    lockouts: tuple[Lockout, ...] = ()

    def recent(self, now: datetime, window_seconds: float) -> list[RestartEvent]:
        """Restarts that count now: inside the window and after the last lockout."""
        since = now - timedelta(seconds=window_seconds)
        if self.lockouts:
            since = max(since, self.lockouts[-1].at)
        return [event for event in self.restarts if event.at > since]


def restarts_path(files: SessionFiles) -> Path:
    return files.restarts


def read_restart_log(files: SessionFiles) -> RestartLog:
    path = restarts_path(files)
    return read_model(path, RestartLog) or RestartLog()


def write_restart_log(files: SessionFiles, log: RestartLog) -> None:
    atomic_write_model(restarts_path(files), log)


def backoff_seconds(recent_restarts: int, settings: Settings) -> float:
    """The wait after the last restart: none for the first, then initial, doubling to max."""
    if recent_restarts == 0:
        return 0.0
    delay = settings.restart_backoff_initial_seconds * 2 ** (recent_restarts - 1)
    return float(min(delay, settings.restart_backoff_max_seconds))


def restart_entry(state: SessionState, note: str) -> HistoryEntry:
    """A SYSTEM entry that changes neither the phase nor the lifecycle, only tells the story.

    At a gate it repeats the waiting entry's question (the resumed run asks it again from the
    last entry) and carries the note as its reason; elsewhere the note is the summary.
    """
    last = state.entries[-1] if state.entries else None
    entry = system_entry(state.last_iteration, state.phase.value, summary=note)
    if state.lifecycle is not Lifecycle.WAITING or last is None:
        return entry
    return entry.model_copy(update={
        "outcome": Outcome.WAITING, "summary": last.summary, "reason": note,
        "for_": last.for_, "needs": last.needs,
    })
