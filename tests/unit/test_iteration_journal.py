"""The journal of the iteration in flight: a crash between the history row and the journal's
removal leaves a journal of a recorded iteration, which must never pass for the next one."""

from __future__ import annotations

import json
from pathlib import Path

from samoflow.loop.iteration import begin_iteration, conclude_iteration, next_attempt
from samoflow.session.files import SessionFiles
from samoflow.session.journal import IterationJournal, read_journal, write_journal
from samoflow.session.repair import drop_recorded_journal
from samoflow.session.state import load_state
from samoflow.settings import get_settings
from tests.support.sessions import new_session


def _crash_after_the_history_row(files: SessionFiles) -> IterationJournal:
    """Iteration 1 is recorded, and its journal (two attempts) is back as a crash left it."""
    state = load_state(files)
    plan = begin_iteration(files, state)
    journal = IterationJournal(iteration=plan.iteration, phase=plan.phase.value, attempt=2)
    write_journal(files.journal, journal)
    files.signal.write_text(json.dumps({"status": "continue", "summary": "looked"}), "utf-8")
    conclude_iteration(files, state, plan, get_settings())
    assert not files.journal.exists()
    write_journal(files.journal, journal)  # the removal the crash cut off
    return journal


def test_the_next_iteration_begins_afresh_over_a_recorded_iterations_journal(repo: Path) -> None:
    files = new_session(repo)
    stale = _crash_after_the_history_row(files)
    state = load_state(files)
    assert state.last_iteration == stale.iteration == 1

    plan = begin_iteration(files, state)

    assert (plan.iteration, plan.resumed, plan.signalled) == (2, False, False)
    assert not files.journal.exists()
    assert next_attempt(files) == 1  # not the recorded iteration's third


def test_the_check_before_every_act_drops_only_a_recorded_iterations_journal(repo: Path) -> None:
    files = new_session(repo)
    _crash_after_the_history_row(files)
    state = load_state(files)

    drop_recorded_journal(files, state)
    assert not files.journal.exists()

    in_flight = IterationJournal(iteration=state.next_iteration, phase=state.phase.value, attempt=1)
    write_journal(files.journal, in_flight)
    drop_recorded_journal(files, state)
    assert read_journal(files.journal) == in_flight  # a cut-off iteration is resumed, not lost
    assert begin_iteration(files, state).resumed
