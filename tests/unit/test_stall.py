"""The stall ladder: which step comes next, when it is due, and how it is recorded."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import psutil
import pytest

from samoflow.clock import utcnow
from samoflow.health.lease import lease_for, process_identity, write_lease
from samoflow.health.progress import ProgressRecord, write_progress
from samoflow.health.stall import (
    Sighting,
    StallAction,
    StallStep,
    Thresholds,
    block_reason,
    forget_block,
    next_action,
    read_stall_log,
    request_control,
    step_due,
    take_control,
    take_step,
)
from samoflow.health.stall_check import check_for_stall, locate_session
from samoflow.session.files import SessionFiles
from samoflow.session.gate import PendingGate, write_gate
from samoflow.session.history import EntryKind, HistoryEntry, Outcome, append_entry, read_history
from samoflow.session.journal import IterationJournal, write_journal
from samoflow.session.state import Lifecycle, load_state
from samoflow.settings import Settings
from tests.support.sessions import new_session

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=utcnow().tzinfo)
THRESHOLDS = Thresholds(stall_seconds=60, escalate_seconds=30)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def step(action: StallAction, when: float, attempt: int = 1) -> StallStep:
    return StallStep(
        action=action,
        iteration=3,
        attempt=attempt,
        at=at(when),
        idle_seconds=60,
        reason="r",
        by="watchdog",
    )


def sighting(now: float, progress: float = 0, attempt: int = 1) -> Sighting:
    return Sighting(
        iteration=3,
        attempt=attempt,
        progress_at=at(progress),
        last_seen="agent output",
        now=at(now),
        by="watchdog",
    )


def test_the_ladder_climbs_nudge_handoff_restart_block() -> None:
    assert next_action([], at(0)) is StallAction.NUDGE
    nudged = [step(StallAction.NUDGE, 60)]
    assert next_action(nudged, at(0)) is StallAction.HANDOFF
    handed = [*nudged, step(StallAction.HANDOFF, 90)]
    assert next_action(handed, at(0)) is StallAction.RESTART
    restarted = [*handed, step(StallAction.RESTART, 200, attempt=2)]
    assert next_action(restarted, at(0)) is StallAction.BLOCK


def test_a_nudge_that_worked_starts_over_but_a_fresh_agent_that_stalls_climbs_on() -> None:
    nudged = [step(StallAction.NUDGE, 60)]
    assert next_action(nudged, progress_at=at(70)) is StallAction.NUDGE
    handed = [*nudged, step(StallAction.HANDOFF, 90)]
    assert next_action(handed, progress_at=at(95)) is StallAction.RESTART


def test_a_step_is_due_after_the_stall_time_then_after_the_escalation_time() -> None:
    assert not step_due([], sighting(now=59), THRESHOLDS)
    assert step_due([], sighting(now=60), THRESHOLDS)
    nudged = [step(StallAction.NUDGE, 60)]
    assert not step_due(nudged, sighting(now=89), THRESHOLDS)
    assert step_due(nudged, sighting(now=90), THRESHOLDS)
    # a fresh agent after a kill gets the full stall time again
    handed = [*nudged, step(StallAction.HANDOFF, 90)]
    assert not step_due(handed, sighting(now=140, progress=91, attempt=2), THRESHOLDS)


@pytest.fixture()
def files(repo: Path) -> SessionFiles:
    session = new_session(repo, name="stuck")
    append_entry(
        session.history,
        HistoryEntry(
            iteration=1, phase="init", outcome=Outcome.CONTINUE, next_phase="investigation"
        ),
    )
    return session


def test_steps_are_recorded_once_as_system_entries_that_keep_the_phase(
    files: SessionFiles,
) -> None:
    first = take_step(files, sighting(now=60), THRESHOLDS)
    assert first is not None and first.action is StallAction.NUDGE
    assert take_step(files, sighting(now=61), THRESHOLDS) is None  # not twice
    entry = read_history(files.history)[-1]
    assert entry.kind is EntryKind.SYSTEM and entry.outcome is Outcome.CONTINUE
    assert entry.phase == entry.next_phase == "investigation"
    assert entry.reason is not None and "no progress for 60 s" in entry.reason
    state = load_state(files)
    assert state.lifecycle is Lifecycle.ACTIVE and state.phase.value == "investigation"
    assert state.last_iteration == 1  # a SYSTEM entry is not an iteration


def test_the_block_step_blocks_the_session_with_its_reason(files: SessionFiles) -> None:
    for now in (60, 90, 120):
        assert take_step(files, sighting(now=now), THRESHOLDS) is not None
    last = take_step(files, sighting(now=150), THRESHOLDS)
    assert last is not None and last.action is StallAction.BLOCK
    state = load_state(files)
    assert state.lifecycle is Lifecycle.BLOCKED and (state.reason or "").startswith("stalled:")
    assert block_reason(files, 3, 1) == last.reason and block_reason(files, 3, 2) is None
    assert [s.action for s in read_stall_log(files).steps] == list(StallAction)
    assert forget_block(files, 3) and read_stall_log(files).steps == ()


def test_a_new_iteration_starts_a_new_ladder(files: SessionFiles) -> None:
    take_step(files, sighting(now=60), THRESHOLDS)
    later = Sighting(
        iteration=4, attempt=1, progress_at=at(100), last_seen="x", now=at(160), by="watchdog"
    )
    taken = take_step(files, later, THRESHOLDS)
    assert taken is not None and taken.action is StallAction.NUDGE
    assert read_stall_log(files).iteration == 4


def test_a_control_request_is_taken_once_and_only_by_its_attempt(files: SessionFiles) -> None:
    handoff = step(StallAction.HANDOFF, 90)
    request_control(files, handoff)
    assert take_control(files, 3, 2) is None  # another attempt: stale, dropped
    request_control(files, handoff)
    assert take_control(files, 3, 1) == handoff
    assert take_control(files, 3, 1) is None


@pytest.fixture()
def running_agent(files: SessionFiles) -> Iterator[subprocess.Popen[bytes]]:
    """A live agent process in the journal and a live orchestrator (this process) in the lease."""
    agent = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True
    )
    started = psutil.Process(agent.pid).create_time()
    write_journal(
        files.journal,
        IterationJournal(
            iteration=2,
            phase="investigation",
            attempt=1,
            started_at=utcnow() - timedelta(seconds=900),
            agent_pid=agent.pid,
            agent_started=started,
        ),
    )
    write_lease(files.lease, lease_for(*process_identity()))
    yield agent
    agent.kill()
    agent.wait()


SETTINGS = Settings(stall_seconds=600, stall_escalate_seconds=300)


def test_the_handler_steps_in_when_the_files_agree(
    files: SessionFiles, running_agent: subprocess.Popen[bytes]
) -> None:
    write_progress(
        files,
        ProgressRecord(
            at=utcnow() - timedelta(seconds=700), what="agent output", iteration=2, attempt=1
        ),
    )
    check = check_for_stall(files, SETTINGS, utcnow())
    assert check.step is not None and check.step.action is StallAction.NUDGE
    assert check.step.by == "automation" and check.watch_on


def test_the_handler_waits_while_progress_is_recent(
    files: SessionFiles, running_agent: subprocess.Popen[bytes]
) -> None:
    write_progress(
        files,
        ProgressRecord(
            at=utcnow() - timedelta(seconds=5), what="agent output", iteration=2, attempt=1
        ),
    )
    check = check_for_stall(files, SETTINGS, utcnow())
    assert check.step is None and check.watch_on


def test_a_session_at_a_human_gate_is_exempt(
    files: SessionFiles, running_agent: subprocess.Popen[bytes]
) -> None:
    append_entry(
        files.history,
        HistoryEntry(
            iteration=2, phase="requirements", outcome=Outcome.WAITING, next_phase="requirements"
        ),
    )
    write_gate(files.gate, PendingGate(iteration=2, phase="requirements"))
    check = check_for_stall(files, SETTINGS, utcnow())
    assert check.step is None and not check.watch_on and "human gate" in check.detail


def test_no_step_without_a_running_agent_or_a_live_orchestrator(files: SessionFiles) -> None:
    check = check_for_stall(files, SETTINGS, utcnow())
    assert check.step is None and "no agent is running" in check.detail
    agent = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        write_journal(
            files.journal,
            IterationJournal(
                iteration=2,
                phase="investigation",
                attempt=1,
                agent_pid=agent.pid,
                agent_started=psutil.Process(agent.pid).create_time(),
            ),
        )
        dead = lease_for(agent.pid + 10_000_000, 1.0)
        write_lease(files.lease, dead)
        check = check_for_stall(files, SETTINGS, utcnow())
        assert check.step is None and "monitor restarts it" in check.detail
    finally:
        agent.kill()
        agent.wait()


def test_a_session_is_found_by_folder_or_by_name(files: SessionFiles) -> None:
    assert locate_session(str(files.root), None, None) == files
    assert locate_session(None, "stuck", str(files.sessions_root)).root == files.root.resolve()
    with pytest.raises(ValueError, match="give session_dir"):
        locate_session(None, "stuck", None)
