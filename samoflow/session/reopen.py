"""Decisions taken for a finished session from outside its loop (the convoy's merge queue).

Both are one system entry in the history, the session's commit point: a reopened session
is active again in `testing` (its next run does the fix-up and earns `done` again), a
blocked one ends with the reason a human needs.
"""

from __future__ import annotations

from samoflow.session.files import SessionFiles
from samoflow.session.history import EntryKind, HistoryEntry, Outcome, append_entry, system_entry
from samoflow.session.overview import update_overview
from samoflow.session.phases import Phase
from samoflow.session.state import Lifecycle, load_state

FIXUP_PHASE = Phase.TESTING


def reopen_for_fixup(files: SessionFiles, note: str) -> bool:
    """A done session goes back to `testing`; False when it is not done (nothing written)."""
    state = load_state(files)
    if state.lifecycle is not Lifecycle.DONE:
        return False
    entry = HistoryEntry(
        kind=EntryKind.SYSTEM,
        iteration=state.last_iteration,
        phase=state.phase.value,
        outcome=Outcome.CONTINUE,
        next_phase=FIXUP_PHASE.value,
        summary=note[:500],
    )
    append_entry(files.history, entry)
    update_overview(files.overview, phase=FIXUP_PHASE.value)
    return True


def block_finished(files: SessionFiles, reason: str) -> None:
    """A session that ended (done) is recorded blocked with `reason`; a blocked one stays."""
    state = load_state(files)
    if state.lifecycle is Lifecycle.BLOCKED:
        return
    append_entry(
        files.history,
        system_entry(
            state.last_iteration, state.phase.value, outcome=Outcome.BLOCKED, reason=reason[:2000]
        ),
    )
