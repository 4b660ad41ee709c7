"""Broken session files, from the user's side: a truncated history row, a deleted
`_session.json`, an unreadable `_overview.md`. samoflow names them and never crashes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import git
import pytest

from samoflow.flows.session import session_flow
from samoflow.session.files import SessionFiles
from samoflow.session.history import EntryKind, iterations, read_history
from samoflow.session.repair import SpecMissingError
from samoflow.session.state import Lifecycle
from tests.support.sessions import new_session


def samoflow(*args: str, repo: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "samoflow.cli", *args, "--repo", str(repo)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "200"},
    )


def sessions(repo: Path) -> Path:
    return repo / ".samoflow" / "sessions"


def history_rows(files: SessionFiles) -> list[bytes]:
    return files.history.read_bytes().splitlines(keepends=True)


def iteration_row(rows: list[bytes], number: int) -> int:
    """The index of iteration `number`'s row."""
    for index, row in enumerate(rows):
        data = json.loads(row)
        if data["kind"] == "iteration" and data["iteration"] == number:
            return index
    raise AssertionError(f"no row for iteration {number}")


@pytest.mark.usefixtures("prefect_api")
def test_a_history_row_cut_mid_line_is_quarantined_and_the_session_resumes(repo: Path) -> None:
    ran = samoflow("run", "add a greeting", "--session", "cut", "--agent", "scripted",
                   "--auto-approve", repo=repo)
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    files = SessionFiles(sessions(repo) / "cut")
    rows = history_rows(files)
    seventh = iteration_row(rows, 7)
    half = rows[seventh][: len(rows[seventh]) // 2]  # a writer died in the middle of the row
    files.history.write_bytes(b"".join(rows[:seventh]) + half)

    status = samoflow("status", repo=repo)
    assert status.returncode == 0, status.stdout + status.stderr
    assert "unreadable" in status.stdout and "line" in status.stdout

    resumed = samoflow("run", "--session", "cut", repo=repo)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    (quarantine,) = files.root.glob("_signal_history.jsonl.quarantine-*")
    assert quarantine.read_bytes() == half + b"\n"  # the bad bytes are kept, as they were
    entries = read_history(files.history)
    system = [e.summary or "" for e in entries if e.kind is EntryKind.SYSTEM]
    notes = [summary for summary in system if "quarantined 1" in summary]
    assert len(notes) == 1 and quarantine.name in notes[0]
    assert [e.iteration for e in iterations(entries)] == list(range(1, 9))  # 7 ran again
    listed = json.loads(samoflow("status", "--json", repo=repo).stdout)
    assert [(r["session"], r["state"]) for r in listed] == [("cut", "done")]


def test_status_shows_an_unreadable_session_and_still_lists_the_others(repo: Path) -> None:
    good = new_session(repo, name="good")
    bad = new_session(repo, name="bad")
    good.history.write_text(
        '{"kind":"iteration","iteration":1,"phase":"init","outcome":"continue",'
        '"next_phase":"investigation","summary":"stored the task"}\n'
    )
    bad.history.write_bytes(b'{"kind":"iteration","iteration":1,"pha\xff\xfe')

    table = samoflow("status", repo=repo)
    listed = samoflow("status", "--json", repo=repo)

    assert table.returncode == 0 and listed.returncode == 0, table.stderr + listed.stderr
    rows = {r["session"]: r for r in json.loads(listed.stdout)}
    assert rows["bad"]["state"] == "unreadable"
    assert rows["bad"]["note"].startswith("unreadable: _signal_history.jsonl line 1")
    assert rows["good"]["phase"] == "investigation" and rows["good"]["iterations"] == 1
    assert "unreadable: _signal_history.jsonl" in table.stdout and "good" in table.stdout


def test_a_new_task_never_takes_over_a_folder_whose_session_json_is_gone(repo: Path) -> None:
    files = new_session(repo, name="old")
    files.history.write_text(
        '{"kind":"iteration","iteration":1,"phase":"init","outcome":"continue"}\n'
    )
    files.spec.unlink()
    before = files.history.read_bytes()
    branches = {b.name for b in git.Repo(repo).branches}

    new_task = samoflow("run", "a different task", "--session", "old", "--agent", "scripted",
                        repo=repo)
    resume = samoflow("run", "--session", "old", repo=repo)
    status = samoflow("status", "--json", repo=repo)

    for refused in (new_task, resume):
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert "no _session.json" in refused.stdout and "restore" in refused.stdout
        assert "Traceback" not in refused.stdout + refused.stderr
    assert "refusing a new task over old history" in new_task.stdout
    assert not files.spec.exists() and files.history.read_bytes() == before
    assert {b.name for b in git.Repo(repo).branches} == branches
    (row,) = json.loads(status.stdout)
    assert row["session"] == "old" and row["state"] == "unreadable"
    assert "no _session.json" in row["note"]


@pytest.mark.usefixtures("prefect_api")
def test_the_orchestrator_stops_with_the_fix_when_session_json_is_gone(repo: Path) -> None:
    files = new_session(repo, name="lost")
    files.spec.unlink()
    with pytest.raises(SpecMissingError, match=r"no _session.json .*restore"):
        session_flow.with_options(retries=0)(str(files.root))
    assert not files.spec.exists()


@pytest.mark.usefixtures("prefect_api")
def test_an_unreadable_overview_blocks_the_session_with_the_reason(repo: Path) -> None:
    files = new_session(repo, name="story")
    files.overview.mkdir()  # something made `_overview.md` a folder: it cannot be read

    ran = samoflow("run", "--session", "story", repo=repo)

    assert ran.returncode == 1, ran.stdout[-3000:] + ran.stderr[-3000:]
    assert "blocked" in ran.stdout and "_overview.md is unreadable" in ran.stdout
    assert "Traceback" not in ran.stdout + ran.stderr
    entries = read_history(files.history)
    assert entries[-1].outcome == "blocked" and "Is a directory" in (entries[-1].reason or "")
    assert iterations(entries) == []  # no agent ran over a story it cannot read
    again = samoflow("run", "--session", "story", repo=repo)  # still unreadable: blocks again
    assert again.returncode == 1 and "_overview.md is unreadable" in again.stdout
    assert SessionFiles(files.root).overview.is_dir()
    (row,) = json.loads(samoflow("status", "--json", repo=repo).stdout)
    assert row["state"] == Lifecycle.BLOCKED.value


@pytest.mark.usefixtures("prefect_api")
def test_an_unreadable_journal_is_set_aside_and_the_session_finishes(repo: Path) -> None:
    files = new_session(repo, name="scrawl")
    files.journal.write_text("garbage{", encoding="utf-8")  # a hand edit of `_iteration.json`

    status = samoflow("status", repo=repo)
    ran = samoflow("run", "--session", "scrawl", repo=repo)

    assert status.returncode == 0 and "scrawl" in status.stdout, status.stdout + status.stderr
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    assert "Traceback" not in ran.stdout + ran.stderr
    (aside,) = files.root.glob("_iteration.json.broken-*")
    assert aside.read_text(encoding="utf-8") == "garbage{"  # kept as it was
    entries = read_history(files.history)
    notes = [e.summary or "" for e in entries if e.kind is EntryKind.SYSTEM]
    assert sum(aside.name in note for note in notes) == 1
    assert entries[-1].outcome == "done"
    assert [e.iteration for e in iterations(entries)] == list(range(1, 9))  # each once


@pytest.mark.usefixtures("prefect_api")
def test_an_unreadable_handoff_is_set_aside_and_the_session_finishes(repo: Path) -> None:
    files = new_session(repo, name="torn")
    files.handoff.write_text("[1, 2", encoding="utf-8")

    ran = samoflow("run", "--session", "torn", repo=repo)

    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    assert "Traceback" not in ran.stdout + ran.stderr
    (aside,) = files.root.glob("_handoff.json.broken-*")
    assert aside.read_text(encoding="utf-8") == "[1, 2"
    notes = [e.summary or "" for e in read_history(files.history) if e.kind is EntryKind.SYSTEM]
    assert sum(aside.name in note and "starts from the overview" in note for note in notes) == 1


def test_an_unreadable_lease_is_refused_in_one_line_with_the_fix(repo: Path) -> None:
    files = new_session(repo, name="leased")
    files.lease.write_text("garbage{", encoding="utf-8")

    ran = samoflow("run", "--session", "leased", repo=repo)

    assert ran.returncode == 2, ran.stdout + ran.stderr
    assert "Traceback" not in ran.stdout + ran.stderr
    assert "_lease.json is unreadable" in ran.stdout and "delete that file" in ran.stdout
    assert files.lease.read_text(encoding="utf-8") == "garbage{"  # never guessed away
