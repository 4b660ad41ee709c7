"""The convoy's live view: a running member's phase, iteration and cost come from its own
history (the convoy's record has them only once the member ends)."""

from __future__ import annotations

from pathlib import Path

from samoflow.cli.output import _member_cells
from samoflow.convoy.record import ConvoyMember, MemberState
from samoflow.session.files import SessionFiles
from samoflow.session.history import HistoryEntry, Outcome, Usage, append_entry


def member(files: SessionFiles, state: MemberState) -> ConvoyMember:
    return ConvoyMember(name=files.name, session_dir=str(files.root), branch="samoflow/m",
                        state=state, phase="init", iterations=0, cost_usd=0.0)


def row(iteration: int, phase: str, next_phase: str, cost: float) -> HistoryEntry:
    return HistoryEntry(iteration=iteration, phase=phase, outcome=Outcome.CONTINUE,
                        next_phase=next_phase, usage=Usage(cost_usd=cost))


def test_a_running_member_shows_where_its_session_is_and_follows_each_new_row(
    tmp_path: Path,
) -> None:
    files = SessionFiles(tmp_path / "m")
    files.root.mkdir()
    running = member(files, MemberState.RUNNING)
    assert _member_cells(running)[2:5] == ("init", "0", "0.0000")  # no history yet

    append_entry(files.history, row(1, "init", "investigation", 0.25))
    assert _member_cells(running)[2:5] == ("investigation", "1", "0.2500")
    append_entry(files.history, row(2, "investigation", "requirements", 0.5))
    assert _member_cells(running)[2:5] == ("requirements", "2", "0.7500")


def test_a_finished_member_shows_the_convoys_record(tmp_path: Path) -> None:
    files = SessionFiles(tmp_path / "m")
    files.root.mkdir()
    append_entry(files.history, row(1, "init", "investigation", 0.25))
    finished = member(files, MemberState.DONE).model_copy(
        update={"phase": "done", "iterations": 8, "cost_usd": 1.5}
    )
    assert _member_cells(finished)[1:5] == ("done", "done", "8", "1.5000")
