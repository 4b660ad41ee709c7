"""A crash between an iteration's history row (its commit point) and the journal's removal:
the rest of the conclusion is done on restart, and that journal never passes for the next
iteration's."""

from __future__ import annotations

import json
import os
from pathlib import Path

from samoflow.inbox.files import note_shown, unread_messages
from samoflow.inbox.messages import new_message
from samoflow.loop.iteration import (
    begin_iteration,
    conclude_iteration,
    finish_recorded_iteration,
    next_attempt,
)
from samoflow.session.files import SessionFiles
from samoflow.session.journal import IterationJournal, read_journal, write_journal
from samoflow.session.state import load_state
from samoflow.settings import get_settings
from tests.support.sessions import new_session


def _crash_after_the_history_row(files: SessionFiles) -> bytes:
    """Iteration 1 (two attempts, one message shown) is recorded, and the rest of its
    conclusion is undone as a crash just after the row left it. Returns the overview that
    conclusion wrote."""
    message = new_message(files.name, "use the v2 endpoint").model_copy(update={"seq": 1})
    files.inbox.mkdir(parents=True, exist_ok=True)
    (files.inbox / message.file_name).write_text(message.model_dump_json(by_alias=True), "utf-8")
    files.overview.write_text(
        "# Add a greeting\n\n## Status\n- Phase: init\n- Iteration: 1\n- Total Iterations: 0\n",
        "utf-8",
    )
    state = load_state(files)
    plan = begin_iteration(files, state)
    note_shown(files, plan.iteration, [message.file_name])
    journal = IterationJournal(iteration=plan.iteration, phase=plan.phase.value, attempt=2)
    write_journal(files.journal, journal)
    files.signal.write_text(json.dumps({"status": "continue", "summary": "looked"}), "utf-8")
    overview_before = files.overview.read_bytes()
    seen_record = (files.inbox / ".seen-by").read_bytes()

    conclude_iteration(files, state, plan, get_settings())

    concluded = files.overview.read_bytes()
    assert concluded != overview_before and not files.journal.exists()
    files.overview.write_bytes(overview_before)
    os.replace(files.inbox_read / message.file_name, files.inbox / message.file_name)
    (files.inbox / ".seen-by").write_bytes(seen_record)
    write_journal(files.journal, journal)
    return concluded


def test_the_next_iteration_begins_afresh_over_a_recorded_iterations_journal(repo: Path) -> None:
    files = new_session(repo)
    concluded = _crash_after_the_history_row(files)
    state = load_state(files)
    assert state.last_iteration == 1

    plan = begin_iteration(files, state)

    assert (plan.iteration, plan.resumed, plan.signalled) == (2, False, False)
    assert not files.journal.exists()
    assert next_attempt(files) == 1  # not the recorded iteration's third
    assert unread_messages(files) == []  # iteration 1 saw it: not shown to iteration 2 again
    assert files.overview.read_bytes() == concluded


def test_the_check_before_every_act_finishes_only_a_recorded_iteration(repo: Path) -> None:
    files = new_session(repo)
    concluded = _crash_after_the_history_row(files)
    state = load_state(files)

    assert finish_recorded_iteration(files, state)
    assert not files.journal.exists() and unread_messages(files) == []
    assert files.overview.read_bytes() == concluded
    assert not finish_recorded_iteration(files, state)  # nothing left to finish

    in_flight = IterationJournal(iteration=state.next_iteration, phase=state.phase.value, attempt=1)
    write_journal(files.journal, in_flight)
    assert not finish_recorded_iteration(files, state)
    assert read_journal(files.journal) == in_flight  # a cut-off iteration is resumed, not lost
    assert begin_iteration(files, state).resumed
