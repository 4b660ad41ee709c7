"""The monitor's decisions: restart dead orchestrators once, back off, lock out crash loops."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from itertools import pairwise
from pathlib import Path

import psutil
import pytest
import typer
from typer.testing import CliRunner

from samoflow.cli import monitor as cli_monitor
from samoflow.clock import utcnow
from samoflow.health import monitor as monitor_module
from samoflow.health.lease import lease_for, process_identity, read_lease, session_lock, write_lease
from samoflow.health.monitor import CheckVerdict, Monitor, check_session, sweep
from samoflow.health.restart import Launched
from samoflow.health.restart_log import backoff_seconds, read_restart_log
from samoflow.notices.notice import Notice, NoticeKind
from samoflow.project import load_config
from samoflow.session.files import SessionFiles
from samoflow.session.gate import GateAnswer, PendingGate, write_gate
from samoflow.session.history import EntryKind, HistoryEntry, Outcome, append_entry, read_history
from samoflow.session.phases import Phase
from samoflow.session.spec import AgentKind, AgentSpec, read_spec, write_spec
from samoflow.session.state import Lifecycle, load_state
from samoflow.session.store import create_session, unblock
from samoflow.settings import Settings
from tests.support.sessions import new_session

SETTINGS = Settings(
    lease_stale_seconds=30,
    restart_backoff_initial_seconds=30,
    restart_backoff_max_seconds=100,
    crash_loop_max_restarts=3,
    crash_loop_window_seconds=900,
)


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class FakeLauncher:
    """Starts a real idle process, like an orchestrator that is still importing Prefect."""

    def __init__(self) -> None:
        self.launched: list[subprocess.Popen[bytes]] = []
        self.guard = threading.Lock()

    def __call__(self, files: SessionFiles) -> Launched:
        process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
        with self.guard:
            self.launched.append(process)
        _, started = process_identity(process.pid)
        return Launched(pid=process.pid, started=started, log_path=files.logs / "fake.log")

    def kill_all(self) -> None:
        for process in self.launched:
            process.kill()
            process.wait()


@pytest.fixture()
def launcher() -> Iterator[FakeLauncher]:
    fake = FakeLauncher()
    yield fake
    fake.kill_all()


@pytest.fixture()
def clock() -> Clock:
    return Clock()


@pytest.fixture()
def notices() -> list[Notice]:
    return []


@pytest.fixture()
def monitor(launcher: FakeLauncher, clock: Clock, notices: list[Notice]) -> Monitor:
    return Monitor(settings=SETTINGS, notify=notices.append, launch=launcher, clock=clock)


def active_session(repo: Path, name: str = "s1", auto_approve: bool = True) -> SessionFiles:
    files = new_session(repo, name=name, auto_approve=auto_approve)
    append_entry(files.history, HistoryEntry(
        iteration=1, phase="init", status="continue", outcome=Outcome.CONTINUE,
        next_phase="investigation",
    ))
    return files


def dead_orchestrator(files: SessionFiles, clock: Clock) -> None:
    """A lease whose pid is ours but whose start time is not: the process it names is gone."""
    pid, _ = process_identity()
    write_lease(files.lease, lease_for(pid, 12345.0).model_copy(update={"heartbeat_at": clock()}))


def test_a_dead_orchestrator_is_restarted_and_the_restart_recorded(
    repo: Path, monitor: Monitor, launcher: FakeLauncher, clock: Clock
) -> None:
    files = active_session(repo)
    dead_orchestrator(files, clock)
    before = load_state(files)

    check = check_session(files, monitor)

    assert check.verdict is CheckVerdict.RESTARTED and len(launcher.launched) == 1
    lease = read_lease(files.lease)
    assert lease is not None and lease.pid == launcher.launched[0].pid
    assert lease.started_by == "monitor"
    last = read_history(files.history)[-1]
    assert last.kind is EntryKind.SYSTEM and last.outcome is Outcome.CONTINUE
    assert last.summary == f"restarted by monitor: orchestrator pid {process_identity()[0]} dead"
    after = load_state(files)
    assert (after.phase, after.lifecycle, after.last_iteration) == (
        before.phase, before.lifecycle, before.last_iteration
    ) == (Phase.INVESTIGATION, Lifecycle.ACTIVE, 1)
    assert len(read_restart_log(files).restarts) == 1


def test_the_sweep_restarts_a_dead_worker_nested_under_its_coordinator(
    repo: Path, monitor: Monitor, launcher: FakeLauncher, clock: Clock
) -> None:
    coordinator = active_session(repo, name="lead")
    config = load_config(repo)
    worker = create_session(
        config, name="w1", task="one part", dive=None, parent=coordinator,
        agent=AgentSpec(kind=AgentKind.SCRIPTED, scenario="full"), auto_approve_gates=True,
    )
    append_entry(worker.history, HistoryEntry(
        iteration=1, phase="init", status="continue", outcome=Outcome.CONTINUE,
        next_phase="investigation",
    ))
    dead_orchestrator(worker, clock)
    assert worker.root.parent == coordinator.workers

    checks = {check.session: check.verdict for check in sweep(config.sessions, monitor)}

    assert checks["lead--w1"] is CheckVerdict.RESTARTED
    lease = read_lease(worker.lease)
    assert lease is not None and lease.pid == launcher.launched[0].pid


def test_a_restarted_session_is_alive_on_the_next_sweep(
    repo: Path, monitor: Monitor, launcher: FakeLauncher, clock: Clock
) -> None:
    files = active_session(repo)
    dead_orchestrator(files, clock)
    check_session(files, monitor)
    assert check_session(files, monitor).verdict is CheckVerdict.ALIVE
    assert len(launcher.launched) == 1


@pytest.mark.parametrize("outcome", [Outcome.DONE, Outcome.BLOCKED, Outcome.WAITING])
def test_sessions_that_need_no_orchestrator_are_left_alone(
    repo: Path, monitor: Monitor, launcher: FakeLauncher, clock: Clock, outcome: Outcome
) -> None:
    files = active_session(repo, auto_approve=False)
    append_entry(files.history, HistoryEntry(iteration=2, phase="investigation", outcome=outcome))
    dead_orchestrator(files, clock)
    assert check_session(files, monitor).verdict is CheckVerdict.INACTIVE
    assert launcher.launched == []


def test_a_gate_passed_by_policy_gets_its_orchestrator_back(
    repo: Path, monitor: Monitor, clock: Clock
) -> None:
    files = active_session(repo, auto_approve=True)
    append_entry(files.history, HistoryEntry(
        iteration=2, phase="requirements", outcome=Outcome.WAITING, next_phase="requirements",
        summary="Q1: English or French?", needs="qa", for_="qa",
    ))
    dead_orchestrator(files, clock)

    assert check_session(files, monitor).verdict is CheckVerdict.RESTARTED

    state = load_state(files)
    assert (state.lifecycle, state.phase) == (Lifecycle.WAITING, Phase.REQUIREMENTS)
    last = state.entries[-1]
    assert last.kind is EntryKind.SYSTEM and last.reason.startswith("restarted by monitor")
    assert (last.summary, last.for_) == ("Q1: English or French?", "qa")


def test_a_gate_answered_on_disk_gets_its_orchestrator_back(
    repo: Path, monitor: Monitor, launcher: FakeLauncher, clock: Clock
) -> None:
    files = new_session(repo, auto_approve=False)
    append_entry(files.history, HistoryEntry(iteration=1, phase="requirements",
                                             outcome=Outcome.WAITING))
    write_gate(files.gate, PendingGate(iteration=1, phase="requirements",
                                       answer=GateAnswer(text="English")))
    dead_orchestrator(files, clock)
    assert check_session(files, monitor).verdict is CheckVerdict.RESTARTED


def test_a_session_without_a_lease_is_not_started_by_the_monitor(
    repo: Path, monitor: Monitor, launcher: FakeLauncher
) -> None:
    files = active_session(repo)
    assert check_session(files, monitor).verdict is CheckVerdict.NOT_RUNNING
    assert launcher.launched == []


def test_a_live_orchestrator_is_left_alone(repo: Path, monitor: Monitor) -> None:
    files = active_session(repo)
    write_lease(files.lease, lease_for(*process_identity()))
    assert check_session(files, monitor).verdict is CheckVerdict.ALIVE


def test_a_hung_orchestrator_is_killed_before_the_restart(
    repo: Path, monitor: Monitor, launcher: FakeLauncher, clock: Clock
) -> None:
    files = active_session(repo)
    hung = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    stale = clock.now - timedelta(seconds=SETTINGS.lease_stale_seconds + 1)
    write_lease(files.lease, lease_for(*process_identity(hung.pid)).model_copy(
        update={"heartbeat_at": stale}))

    check = check_session(files, monitor)

    assert check.verdict is CheckVerdict.RESTARTED and "hung" in check.detail
    hung.wait(timeout=10)  # psutil reaped it already when it killed it
    assert not psutil.pid_exists(hung.pid)


def test_restarts_back_off_exponentially(
    repo: Path, monitor: Monitor, launcher: FakeLauncher, clock: Clock
) -> None:
    files = active_session(repo)
    waits = []
    for _ in range(3):
        dead_orchestrator(files, clock)
        while (check := check_session(files, monitor)).verdict is CheckVerdict.BACKING_OFF:
            clock.advance(1)
        assert check.verdict is CheckVerdict.RESTARTED
        waits.append(read_restart_log(files).restarts[-1].at)
    gaps = [(b - a).total_seconds() for a, b in pairwise(waits)]
    assert gaps == [30, 60]
    assert [backoff_seconds(n, SETTINGS) for n in range(5)] == [0, 30, 60, 100, 100]


def test_a_crash_loop_locks_the_session_out_and_tells_a_human_once(
    repo: Path, monitor: Monitor, launcher: FakeLauncher, clock: Clock, notices: list[Notice]
) -> None:
    files = active_session(repo)
    for _ in range(SETTINGS.crash_loop_max_restarts):
        dead_orchestrator(files, clock)
        assert check_session(files, monitor).verdict is CheckVerdict.RESTARTED
        clock.advance(SETTINGS.restart_backoff_max_seconds)
    dead_orchestrator(files, clock)

    assert check_session(files, monitor).verdict is CheckVerdict.LOCKED_OUT
    for _ in range(3):
        clock.advance(SETTINGS.restart_backoff_max_seconds)
        assert check_session(files, monitor).verdict is CheckVerdict.INACTIVE

    assert len(launcher.launched) == SETTINGS.crash_loop_max_restarts
    assert [n.kind for n in notices] == [NoticeKind.BLOCKED]
    assert "crash loop" in notices[0].text and "samoflow run --session s1" in notices[0].next_step
    state = load_state(files)
    assert state.lifecycle is Lifecycle.BLOCKED and state.phase is Phase.INVESTIGATION
    assert read_restart_log(files).lockouts[-1].notified


def test_after_a_human_resumes_a_locked_out_session_restarts_count_afresh(
    repo: Path, monitor: Monitor, clock: Clock
) -> None:
    files = active_session(repo)
    for _ in range(SETTINGS.crash_loop_max_restarts):
        dead_orchestrator(files, clock)
        check_session(files, monitor)
        clock.advance(SETTINGS.restart_backoff_max_seconds)
    dead_orchestrator(files, clock)
    assert check_session(files, monitor).verdict is CheckVerdict.LOCKED_OUT
    unblock(files, "resumed by a human")
    clock.advance(1)
    assert check_session(files, monitor).verdict is CheckVerdict.RESTARTED


def test_a_failed_lockout_notice_is_sent_on_the_next_sweep(
    repo: Path, launcher: FakeLauncher, clock: Clock, notices: list[Notice]
) -> None:
    def flaky(notice: Notice) -> None:
        if not notices:
            notices.append(notice)
            raise ConnectionError("slack is down")
        notices.append(notice)

    monitor = Monitor(settings=SETTINGS, notify=flaky, launch=launcher, clock=clock)
    files = active_session(repo)
    for _ in range(SETTINGS.crash_loop_max_restarts):
        dead_orchestrator(files, clock)
        check_session(files, monitor)
        clock.advance(SETTINGS.restart_backoff_max_seconds)
    dead_orchestrator(files, clock)
    assert "telling a human failed" in check_session(files, monitor).detail
    check_session(files, monitor)
    check_session(files, monitor)
    assert len(notices) == 2 and read_restart_log(files).lockouts[-1].notified


def test_two_monitors_racing_restart_a_session_exactly_once(
    repo: Path, launcher: FakeLauncher, clock: Clock, notices: list[Notice],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    files = active_session(repo)
    dead_orchestrator(files, clock)
    racers = 4
    all_saw_it_dead = threading.Barrier(racers, timeout=30)

    @contextlib.contextmanager
    def lock_after_everyone_looked(files: SessionFiles) -> Iterator[bool]:
        all_saw_it_dead.wait()  # every monitor decided "dead" before any takes the lock
        with session_lock(files) as locked:
            yield locked

    monkeypatch.setattr(monitor_module, "session_lock", lock_after_everyone_looked)
    verdicts: list[CheckVerdict] = []

    def one_monitor() -> None:
        monitor = Monitor(settings=SETTINGS, notify=notices.append, launch=launcher, clock=clock)
        verdicts.extend(c.verdict for c in sweep(files.root.parent, monitor))

    threads = [threading.Thread(target=one_monitor) for _ in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    expected = [CheckVerdict.RESTARTED] + [CheckVerdict.ALIVE] * (racers - 1)
    assert sorted(verdicts) == sorted(expected)
    assert len(launcher.launched) == 1
    restarts = [e for e in read_history(files.history) if e.kind is EntryKind.SYSTEM]
    assert len(restarts) == 1 and len(read_restart_log(files).restarts) == 1


def test_monitor_once_prints_every_session_and_starts_nothing_that_needs_no_help(
    repo: Path,
) -> None:
    done = active_session(repo, name="finished")
    append_entry(done.history, HistoryEntry(iteration=2, phase="done", outcome=Outcome.DONE))
    active_session(repo, name="idle")
    app = typer.Typer()
    app.command()(cli_monitor.monitor)

    result = CliRunner().invoke(app, ["--once", "--repo", str(repo)], terminal_width=200)

    assert result.exit_code == 0, result.output
    assert "finished" in result.output and "inactive" in result.output
    assert "idle" in result.output and "not-running" in result.output


def test_a_dead_convoy_member_is_left_to_its_convoy_for_the_grace_then_restarted(
    repo: Path, monitor: Monitor, launcher: FakeLauncher, clock: Clock
) -> None:
    files = active_session(repo)
    write_spec(files.spec, read_spec(files.spec).model_copy(update={"convoy": "batch"}))
    dead_orchestrator(files, clock)  # its last heartbeat: now

    clock.advance(SETTINGS.convoy_member_grace_seconds - 1)
    waiting = check_session(files, monitor)
    assert waiting.verdict is CheckVerdict.BACKING_OFF and "convoy" in waiting.detail
    assert launcher.launched == [] and read_restart_log(files).restarts == ()

    clock.advance(2)  # the convoy did not start it again: it may be gone too
    assert check_session(files, monitor).verdict is CheckVerdict.RESTARTED
    assert len(launcher.launched) == 1


def test_a_dead_session_with_a_row_cut_mid_line_is_quarantined_and_restarted(
    repo: Path, monitor: Monitor, launcher: FakeLauncher, clock: Clock
) -> None:
    files = active_session(repo)
    files.history.write_bytes(files.history.read_bytes() + b'{"kind":"iteration","itera')
    dead_orchestrator(files, clock)

    check = check_session(files, monitor)

    assert check.verdict is CheckVerdict.RESTARTED and len(launcher.launched) == 1
    (quarantine,) = files.root.glob("_signal_history.jsonl.quarantine-*")
    assert quarantine.read_bytes() == b'{"kind":"iteration","itera\n'
    assert load_state(files).last_iteration == 1


def test_a_live_orchestrator_is_left_to_quarantine_its_own_history(
    repo: Path, monitor: Monitor, launcher: FakeLauncher
) -> None:
    files = active_session(repo)
    files.history.write_bytes(files.history.read_bytes() + b"\xff")
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        write_lease(files.lease, lease_for(*process_identity(holder.pid)))  # alive, beating
        check = check_session(files, monitor)
    finally:
        holder.kill()
        holder.wait()

    assert check.verdict is CheckVerdict.ERROR and "line 2 is unreadable" in check.detail
    assert not list(files.root.glob("_signal_history.jsonl.quarantine-*"))
    assert launcher.launched == []
