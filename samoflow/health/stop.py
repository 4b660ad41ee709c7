"""An orchestrator told to stop (SIGTERM from `samoflow down`, a worker, the OS): a clean end.

Prefect turns SIGTERM into a `TerminationSignal` exception (it carries `.signal`); the lease
holder treats it as a stop, not a crash: the agent's process group is already gone (see
`agents.process`), the lease is released and the stop is recorded, so the session waits for
`samoflow run --session NAME` instead of looking alive or dead.
"""

from __future__ import annotations

import signal

from samoflow.session.files import SessionFiles
from samoflow.session.history import append_entry, system_entry
from samoflow.session.state import load_state


def is_termination(error: BaseException) -> bool:
    return getattr(error, "signal", None) == signal.SIGTERM


def record_stop(files: SessionFiles) -> None:
    """A system row: why the session stopped and how to go on (the cut-off iteration resumes)."""
    try:
        state = load_state(files)
        note = (
            f"orchestrator stopped by SIGTERM; continue with `samoflow run --session {files.name}`"
        )
        append_entry(
            files.history, system_entry(state.last_iteration, state.phase.value, summary=note)
        )
    except (OSError, ValueError):
        pass  # a history that cannot take the row: the released lease still says stopped
