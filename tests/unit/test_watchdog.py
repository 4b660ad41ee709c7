"""The in-process watch of one attempt: heartbeats out, the ladder carried out, no Prefect."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from samoflow.atomic import atomic_write_model
from samoflow.clock import utcnow
from samoflow.health.progress import Beat, read_progress
from samoflow.health.stall import StallAction, StallLog, StallStep, request_control, stall_path
from samoflow.health.watchdog import AttemptPlace, AttemptWatch, WatchHooks
from samoflow.inbox.messages import Message, MessageKind
from samoflow.notices.notice import Notice, NoticeKind
from samoflow.session.files import SessionFiles
from samoflow.session.handoff import pending_handoff
from samoflow.session.history import EntryKind, read_history
from samoflow.session.journal import IterationJournal, write_journal
from samoflow.settings import Settings
from tests.conftest import wait_until
from tests.support.sessions import new_session

FAST = Settings(
    stall_seconds=0.6,
    stall_escalate_seconds=0.6,
    watchdog_poll_seconds=0.05,
    heartbeat_interval_seconds=0.2,
)


class Outside:
    """What the watch told the world."""

    def __init__(self) -> None:
        self.beats: list[Beat] = []
        self.notices: list[Notice] = []
        self.lock = threading.Lock()

    def hooks(self) -> WatchHooks:
        def announce(beat: Beat) -> None:
            with self.lock:
                self.beats.append(beat)

        def tell(notice: Notice) -> None:
            with self.lock:
                self.notices.append(notice)

        return WatchHooks(announce=announce, tell_humans=tell)


@pytest.fixture()
def files(repo: Path) -> SessionFiles:
    return new_session(repo, name="watched")


@pytest.fixture()
def agent(files: SessionFiles) -> Iterator[subprocess.Popen[bytes]]:
    """A silent agent process, journalled like `run_attempt` does it."""
    process = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True
    )
    started = psutil.Process(process.pid).create_time()
    write_journal(
        files.journal,
        IterationJournal(
            iteration=1, phase="init", attempt=1, agent_pid=process.pid, agent_started=started
        ),
    )
    yield process
    process.kill()
    process.wait()


def place(files: SessionFiles) -> AttemptPlace:
    return AttemptPlace(iteration=1, attempt=1, phase="init", working_dir=files.root)


def stall_entries(files: SessionFiles) -> list[str]:
    return [
        entry.summary or ""
        for entry in read_history(files.history)
        if entry.kind is EntryKind.SYSTEM and "stall" in (entry.summary or "")
    ]


def test_a_silent_agent_is_nudged_then_ended_with_a_handoff_note(
    files: SessionFiles, agent: subprocess.Popen[bytes]
) -> None:
    outside = Outside()
    with AttemptWatch(files, place(files), FAST, outside.hooks(), grace_seconds=0):
        wait_until(lambda: agent.poll() is not None, 10, "the watchdog to end the agent")
    assert stall_entries(files) == [
        "stall ladder: nudge (by the watchdog)",
        "stall ladder: handoff (by the watchdog)",
    ]
    (nudge_file,) = files.inbox.glob("msg-*.json")
    nudge = Message.model_validate_json(nudge_file.read_text())
    assert nudge.kind is MessageKind.NUDGE and nudge.from_ == "samoflow"
    assert [n.kind for n in outside.notices] == [NoticeKind.STALLED]
    handoff = pending_handoff(files.handoff)
    assert handoff is not None and "stalled" in (handoff.summary or "")
    assert outside.beats[0].what == "attempt 1 started"
    progress = read_progress(files)
    assert progress is not None and progress.attempt == 1


def test_output_and_file_changes_keep_the_watchdog_quiet(
    files: SessionFiles, agent: subprocess.Popen[bytes]
) -> None:
    outside = Outside()
    with AttemptWatch(files, place(files), FAST, outside.hooks(), grace_seconds=0) as watch:
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            watch.saw_output("working")
            (files.root / "_overview.md").write_text(f"{time.monotonic()}")
            time.sleep(0.1)
    assert stall_entries(files) == [] and agent.poll() is None
    # 20 lines in 2 s, announced at most once per 0.2 s
    assert 3 <= len(outside.beats) <= 12
    kinds = {beat.what.split(" (")[0] for beat in outside.beats[1:]}
    assert kinds <= {"agent output", "file change in the session folder"} and kinds


def test_a_block_requested_by_the_handler_ends_the_agent_and_marks_the_attempt(
    files: SessionFiles, agent: subprocess.Popen[bytes]
) -> None:
    outside = Outside()
    # a served automation acts first: the watchdog only carries out what it is asked
    with AttemptWatch(files, place(files), FAST, outside.hooks(), grace_seconds=3600) as watch:
        # as `take_step` records it in the handler, then the request it leaves
        block = StallStep(
            action=StallAction.BLOCK,
            iteration=1,
            attempt=1,
            at=utcnow(),
            idle_seconds=99,
            reason="stalled: test",
            by="automation",
        )
        atomic_write_model(stall_path(files), StallLog(iteration=1, steps=(block,)))
        request_control(files, block)
        wait_until(lambda: agent.poll() is not None, 10, "the watchdog to honour the request")
    assert watch.stalled_reason == "stalled: test"
    assert outside.notices == []  # the flow's blocked notice tells the human, not the watch
