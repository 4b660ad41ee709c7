"""`samoflow status` from the user's side: dead orchestrators named, long text cut visibly,
`--watch` refreshing until stopped."""

from __future__ import annotations

import json
import os
import pty
import queue
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

from samoflow.clock import utcnow
from samoflow.health.lease import lease_for, process_identity, write_lease
from samoflow.session.files import SessionFiles
from samoflow.session.history import HistoryEntry, Outcome, append_entry
from tests.support.sessions import new_session

ENV = {**os.environ, "COLUMNS": "200"}


def samoflow(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "samoflow.cli", *args, "--repo", str(repo)],
        capture_output=True, text=True, timeout=120, env=ENV,
    )


def active(repo: Path, name: str, summary: str = "read the code") -> SessionFiles:
    files = new_session(repo, name=name)
    append_entry(files.history, HistoryEntry(
        iteration=1, phase="init", outcome=Outcome.CONTINUE, next_phase="investigation",
        summary=summary,
    ))
    return files


def states(repo: Path) -> dict[str, tuple[str, str]]:
    listed = json.loads(samoflow(repo, "status", "--json").stdout)
    return {row["session"]: (row["state"], row["note"]) for row in listed}


def test_an_active_session_whose_orchestrator_died_shows_dead_with_the_fix(repo: Path) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                            stdin=subprocess.PIPE)
    identity = process_identity(gone.pid)
    gone.communicate(b"")  # the orchestrator process ends; its lease stays behind
    write_lease(active(repo, "crashed").lease, lease_for(*identity))
    live = active(repo, "running")
    write_lease(live.lease, lease_for(*process_identity()))  # this test process, beating

    shown = states(repo)
    table = samoflow(repo, "status").stdout

    assert shown["crashed"][0] == "dead"
    assert "samoflow run --session crashed" in shown["crashed"][1]
    assert shown["running"] == ("active", "read the code")
    assert "dead" in table and "samoflow run --session crashed" in table


def test_a_stale_heartbeat_shows_dead(repo: Path) -> None:
    files = active(repo, "silent")
    old = utcnow() - timedelta(hours=1)
    write_lease(files.lease, lease_for(*process_identity()).model_copy(
        update={"heartbeat_at": old}))

    state, note = states(repo)["silent"]

    assert state == "dead" and "silent for 360" in note
    assert "samoflow run --session silent" in note


def test_an_active_session_nobody_runs_shows_stopped(repo: Path) -> None:
    active(repo, "orphan")
    state, note = states(repo)["orphan"]
    assert state == "stopped" and "samoflow run --session orphan" in note


def test_long_names_and_notes_are_cut_with_an_ellipsis(repo: Path) -> None:
    name = "a-session-name-that-goes-on-and-on-well-past-what-a-table-shows"
    note = "the agent wrote a very long summary " * 8
    files = active(repo, name, summary=note)
    write_lease(files.lease, lease_for(*process_identity()))

    table = samoflow(repo, "status").stdout

    assert "…" in table
    assert name not in table and name[:31] in table
    assert note.strip() not in table and "the agent wrote a very long" in table
    assert states(repo)[name][1] == note  # --json keeps every character


def test_watch_prints_a_new_table_every_interval_until_its_count(repo: Path) -> None:
    active(repo, "watched")
    result = samoflow(repo, "status", "--watch", "--interval", "0.1", "--count", "3")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("samoflow status at") == 3
    # Not a terminal: each table is one plain line a session.
    assert sum(line.startswith("watched: ") for line in result.stdout.splitlines()) == 3


def test_watch_shows_what_changed_since_the_last_table(repo: Path) -> None:
    files = active(repo, "changing")
    watch = subprocess.Popen(
        [sys.executable, "-m", "samoflow.cli", "status", "--watch", "--interval", "0.2",
         "--repo", str(repo)],
        stdout=subprocess.PIPE, text=True, env=ENV,
    )
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(
        target=lambda: [lines.put(line) for line in watch.stdout or []], daemon=True
    )
    reader.start()

    def wait_for(text: str, seconds: float = 60) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                if text in lines.get(timeout=0.5):
                    return
            except queue.Empty:
                continue
        raise AssertionError(f"status --watch never showed {text!r}")

    try:
        wait_for("stopped")
        append_entry(files.history, HistoryEntry(
            iteration=2, phase="investigation", outcome=Outcome.DONE, summary="all finished",
        ))
        wait_for("all finished")
        assert watch.poll() is None  # it keeps going until the user stops it
    finally:
        watch.terminate()
        watch.wait(timeout=30)


def test_watch_in_a_terminal_redraws_one_table_in_place(repo: Path) -> None:
    active(repo, "redrawn")
    leader, follower = pty.openpty()
    watch = subprocess.Popen(
        [sys.executable, "-m", "samoflow.cli", "status", "--watch", "--interval", "0.1",
         "--count", "3", "--repo", str(repo)],
        stdin=follower, stdout=follower, stderr=follower, env={**ENV, "TERM": "xterm"},
    )
    os.close(follower)
    seen = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closed: the command ended
            break
        if not chunk:
            break
        seen += chunk
    os.close(leader)
    assert watch.wait(timeout=60) == 0, seen.decode(errors="replace")[-2000:]
    text = seen.decode(errors="replace")
    assert "redrawn" in text and "samoflow status at" not in text  # no new table per refresh
    assert "\x1b[" in text and "\x1b[2K" in text  # the previous table is erased, then redrawn
