"""Quarantine of unreadable history rows: the bad bytes kept aside, the good rows untouched."""

from __future__ import annotations

from pathlib import Path

import pytest

from samoflow.session.files import SessionFiles
from samoflow.session.history import (
    EntryKind,
    HistoryEntry,
    HistoryError,
    Outcome,
    append_entry,
    read_history,
)
from samoflow.session.repair import load_state_repaired, quarantine_history
from samoflow.session.state import Lifecycle, load_state


def row(iteration: int, outcome: Outcome = Outcome.CONTINUE, summary: str = "ok") -> HistoryEntry:
    return HistoryEntry(iteration=iteration, phase="init", outcome=outcome, next_phase="init",
                        summary=summary)


def test_every_unreadable_row_is_moved_aside_and_the_good_ones_stay_as_they_were(
    tmp_path: Path,
) -> None:
    files = SessionFiles(tmp_path)
    append_entry(files.history, row(1))
    good_one = files.history.read_bytes()
    bad = [b'{"kind":"iteration","itera', b"\xff\xfe not utf-8", b'{"iteration": "x"}']
    append_entry(files.history, row(2))
    good_two = files.history.read_bytes()[len(good_one):]
    files.history.write_bytes(good_one + bad[0] + b"\n" + bad[1] + b"\n" + good_two + bad[2])
    with pytest.raises(HistoryError):
        load_state(files)

    state = load_state_repaired(files)

    (quarantine,) = tmp_path.glob("_signal_history.jsonl.quarantine-*")
    assert quarantine.read_bytes() == b"\n".join(bad) + b"\n"
    assert files.history.read_bytes().startswith(good_one + good_two)
    entries = read_history(files.history)
    assert [e.kind for e in entries] == [EntryKind.ITERATION, EntryKind.ITERATION, EntryKind.SYSTEM]
    assert "quarantined 3 unreadable row(s)" in (entries[-1].summary or "")
    assert state.last_iteration == 2 and state.lifecycle is Lifecycle.ACTIVE
    assert quarantine_history(files) is None  # nothing left to move


def test_a_done_session_stays_done_after_its_broken_row_is_quarantined(tmp_path: Path) -> None:
    files = SessionFiles(tmp_path)
    append_entry(files.history, row(1, Outcome.DONE, "shipped"))
    files.history.write_bytes(files.history.read_bytes() + b'{"kind":"sys')

    state = load_state_repaired(files)

    assert state.lifecycle is Lifecycle.DONE and state.last_iteration == 1


def test_a_summary_holding_a_line_separator_stays_one_row(tmp_path: Path) -> None:
    files = SessionFiles(tmp_path)
    append_entry(files.history, row(1, summary="first\u2028second\x1cthird"))
    (entry,) = read_history(files.history)
    assert entry.summary == "first\u2028second\x1cthird"


def test_an_unreadable_journal_or_handoff_is_set_aside_and_noted(tmp_path: Path) -> None:
    from samoflow.atomic import model_problem
    from samoflow.session.handoff import HandoffRecord, pending_handoff
    from samoflow.session.journal import IterationJournal, read_journal
    from samoflow.session.repair import set_aside_unreadable

    files = SessionFiles(tmp_path)
    append_entry(files.history, row(1))
    append_entry(files.history, HistoryEntry(
        iteration=2, phase="init", outcome=Outcome.BLOCKED, next_phase="init", reason="a key"))
    files.journal.write_text('{"iteration": 3, "pha', encoding="utf-8")
    files.handoff.write_text("[1, 2", encoding="utf-8")
    assert read_journal(files.journal) is None  # no reader crashes on it (status, monitor)
    assert pending_handoff(files.handoff) is None  # nor the prompt for the next agent
    assert model_problem(files.journal, IterationJournal) is not None
    assert model_problem(files.handoff, HandoffRecord) is not None

    journal_note, handoff_note = set_aside_unreadable(files)

    assert not files.journal.exists() and not files.handoff.exists()
    (journal_aside,) = tmp_path.glob("_iteration.json.broken-*")
    (handoff_aside,) = tmp_path.glob("_handoff.json.broken-*")
    assert journal_aside.read_text(encoding="utf-8") == '{"iteration": 3, "pha'  # kept
    assert handoff_aside.read_text(encoding="utf-8") == "[1, 2"
    assert journal_aside.name in (journal_note.summary or "")
    assert handoff_aside.name in (handoff_note.summary or "")
    state = load_state(files)
    assert state.lifecycle is Lifecycle.BLOCKED and state.reason == "a key"  # kept as it was
    assert set_aside_unreadable(files) == []  # nothing left to set aside
