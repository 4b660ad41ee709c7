"""`_hold.json`: a human's stop or pause of a session, and the history rows that record them.

The hold file is the request (who, when, which); the history row is the fact. A stop ends
the running attempt, a pause lets it finish; either way the orchestrator records the row
and ends its run. Lifting the hold (`samoflow run --session`, `samoflow resume`) records a
row that gives the session back the lifecycle it had before (a gate stays a gate).
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from samoflow.atomic import atomic_write_model, model_problem, read_model
from samoflow.clock import utcnow
from samoflow.session.files import SessionFiles
from samoflow.session.history import HistoryEntry, Outcome, append_entry, system_entry
from samoflow.session.repair import move_aside
from samoflow.session.state import HELD, Lifecycle, SessionState, load_state


class HoldKind(StrEnum):
    STOP = "stop"  # end the running attempt now
    PAUSE = "pause"  # let the running iteration finish, start no new one


class Hold(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: HoldKind
    by: str  # who asked: "samoflow stop", "prefect cancellation", "telegram user 42"
    at: datetime = Field(default_factory=utcnow)


_OUTCOME = {HoldKind.STOP: Outcome.STOPPED, HoldKind.PAUSE: Outcome.PAUSED}


def read_hold(files: SessionFiles) -> Hold | None:
    """The request; an unreadable `_hold.json` (a hand edit: `echo stop > _hold.json`) is
    read as a pause: someone asked to hold, and a pause kills nothing on a guess while it
    still starts no new iteration. `samoflow stop` makes it a stop; a resume lifts it."""
    try:
        return read_model(files.hold, Hold)
    except (ValueError, OSError):
        pass  # its bytes are kept (set aside) when a stop replaces it or a resume lifts it
    try:
        at = datetime.fromtimestamp(files.hold.stat().st_mtime, UTC)
    except OSError:
        at = utcnow()
    return Hold(kind=HoldKind.PAUSE, by=f"an unreadable {files.hold.name}", at=at)


def _set_aside_unreadable(files: SessionFiles) -> None:
    """Before the request is replaced or lifted: its bytes are kept next to it."""
    if model_problem(files.hold, Hold) is not None:
        move_aside(files.hold)


def request_hold(files: SessionFiles, kind: HoldKind, by: str) -> Hold:
    """A stop is never weakened into a pause by a later request."""
    _set_aside_unreadable(files)
    held = read_hold(files)
    if held is not None and (held.kind is HoldKind.STOP or held.kind is kind):
        return held
    hold = Hold(kind=kind, by=by)
    atomic_write_model(files.hold, hold)
    return hold


def stop_requested(files: SessionFiles) -> bool:
    """Cheap enough for every watchdog tick: one stat in the common case."""
    if not files.hold.exists():
        return False
    held = read_hold(files)
    return held is not None and held.kind is HoldKind.STOP


def held_entry(state: SessionState, hold: Hold) -> HistoryEntry:
    verb = "stopped" if hold.kind is HoldKind.STOP else "paused"
    return system_entry(
        state.last_iteration,
        state.phase.value,
        outcome=_OUTCOME[hold.kind],
        summary=f"{verb} by {hold.by} at {hold.at:%Y-%m-%d %H:%M:%S} UTC",
        reason=f"{verb} by {hold.by}",
    )


def record_hold(files: SessionFiles, hold: Hold) -> bool:
    """The history row of a hold, once (the caller holds the session lock); False if it was."""
    state = load_state(files)
    if state.lifecycle in HELD or state.lifecycle in (Lifecycle.DONE, Lifecycle.BLOCKED):
        return False
    append_entry(files.history, held_entry(state, hold))
    return True


def _before_hold(state: SessionState) -> HistoryEntry | None:
    """The last row that is not a stop or pause: what the session was doing when held."""
    for entry in reversed(state.entries):
        if entry.outcome not in _OUTCOME.values():
            return entry
    return None


def resumed_entry(state: SessionState, by: str) -> HistoryEntry:
    """Back to the lifecycle before the hold: a session held at a gate asks it again."""
    note = f"resumed by {by}"
    entry = system_entry(state.last_iteration, state.phase.value, summary=note)
    before = _before_hold(state)
    if before is None or before.outcome is not Outcome.WAITING:
        return entry
    return entry.model_copy(update={
        "outcome": Outcome.WAITING, "summary": before.summary, "reason": note,
        "for_": before.for_, "needs": before.needs,
    })


def lift_hold(files: SessionFiles, by: str) -> bool:
    """Remove the request and record the resume; True when the session was held."""
    _set_aside_unreadable(files)
    files.hold.unlink(missing_ok=True)
    state = load_state(files)
    if state.lifecycle not in HELD:
        return False
    append_entry(files.history, resumed_entry(state, by))
    return True
