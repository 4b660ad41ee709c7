"""Holds: a stop is never weakened into a pause; resuming gives the session back its gate."""

from __future__ import annotations

from pathlib import Path

from samoflow.session.files import SessionFiles
from samoflow.session.history import HistoryEntry, Outcome, append_entry, read_history
from samoflow.session.hold import (
    HoldKind,
    lift_hold,
    read_hold,
    record_hold,
    request_hold,
    stop_requested,
)
from samoflow.session.state import Lifecycle, load_state


def waiting_session(tmp_path: Path) -> SessionFiles:
    files = SessionFiles(tmp_path / "s1")
    files.root.mkdir()
    append_entry(files.history, HistoryEntry(
        iteration=3, phase="requirements", outcome=Outcome.WAITING, next_phase="requirements",
        summary="Q1: English or French?", for_="qa",
    ))
    return files


def test_a_stop_is_never_weakened_into_a_pause(tmp_path: Path) -> None:
    files = waiting_session(tmp_path)
    request_hold(files, HoldKind.STOP, "ann")
    held = request_hold(files, HoldKind.PAUSE, "bob")
    assert held.kind is HoldKind.STOP and held.by == "ann" and read_hold(files) == held


def test_a_hold_is_recorded_once_and_resuming_asks_the_gate_again(tmp_path: Path) -> None:
    files = waiting_session(tmp_path)
    hold = request_hold(files, HoldKind.STOP, "ann")
    assert record_hold(files, hold) is True
    assert record_hold(files, hold) is False  # whoever comes second records nothing
    assert load_state(files).lifecycle is Lifecycle.STOPPED
    assert lift_hold(files, "samoflow run") is True
    assert not files.hold.exists()
    last = read_history(files.history)[-1]
    assert (last.outcome, last.for_, last.summary) == (
        Outcome.WAITING, "qa", "Q1: English or French?"
    )
    assert last.reason == "resumed by samoflow run"
    assert load_state(files).lifecycle is Lifecycle.WAITING
    assert lift_hold(files, "again") is False


def test_nothing_is_recorded_for_a_finished_session(tmp_path: Path) -> None:
    files = waiting_session(tmp_path)
    append_entry(files.history, HistoryEntry(iteration=4, phase="done", outcome=Outcome.DONE))
    assert record_hold(files, request_hold(files, HoldKind.PAUSE, "ann")) is False
    assert load_state(files).lifecycle is Lifecycle.DONE


def test_an_unreadable_hold_is_a_pause_a_stop_replaces_it_and_its_bytes_are_kept(
    tmp_path: Path,
) -> None:
    files = waiting_session(tmp_path)
    files.hold.write_text('{"kind": "halt"', encoding="utf-8")
    held = read_hold(files)
    assert held is not None and held.kind is HoldKind.PAUSE
    assert held.by == "an unreadable _hold.json"
    assert not stop_requested(files)  # a guess never kills the running agent

    stop = request_hold(files, HoldKind.STOP, "ann")

    assert stop.kind is HoldKind.STOP and read_hold(files) == stop
    (aside,) = files.root.glob("_hold.json.broken-*")
    assert aside.read_text(encoding="utf-8") == '{"kind": "halt"'
