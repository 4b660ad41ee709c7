"""Chaos: SIGKILL the orchestrator mid-iteration, twice; the monitor brings the session back.

Real pieces only: a git repo, the scripted agent as a process, detached orchestrators
(`python -m samoflow.cli.resume`) on a real Prefect server, and the monitor's sweep.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import git
import psutil
import pytest

from samoflow.health.lease import Lease, lease_for, read_lease, write_lease
from samoflow.health.monitor import CheckVerdict, Monitor, SessionCheck, sweep
from samoflow.health.restart import launch_local
from samoflow.notices.notice import Notice
from samoflow.session.files import SessionFiles
from samoflow.session.history import EntryKind, iterations, read_history
from samoflow.session.journal import read_journal
from samoflow.session.state import Lifecycle, load_state
from samoflow.settings import Settings, get_settings
from tests.conftest import wait_until
from tests.support.sessions import new_session

T = TypeVar("T")

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_api")]

SCENARIO = """
name = "chaos"

[[steps]]
summary = "Session initialized"
sleep = 1.0
overview = "init"
signal = { status = "continue", phase = "investigation", summary = "task stored" }

[[steps]]
summary = "Investigated"
sleep = 1.0
overview = "update"
write = { "notes/investigation.md" = "# Investigation\\n" }
commit = "investigation notes"
signal = { status = "continue", phase = "requirements", summary = "investigated" }

[[steps]]
summary = "Asked the requirements questions"
sleep = 1.0
overview = "update"
signal = { status = "waiting", for = "qa", summary = "Q1: English or French?" }

[[steps]]
summary = "Wrote the plan"
sleep = 1.0
overview = "update"
write = { "notes/plan.md" = "# Plan\\n" }
commit = "plan"
signal = { status = "waiting", for = "plan_approval", summary = "plan ready" }

[[steps]]
summary = "Implemented"
sleep = 1.0
kill_on_attempts = [1]
overview = "update"
write = { "src/greeting.py" = "def greet(name):\\n    return f'hello {name}'\\n" }
commit = "add greeting"
signal = { status = "continue", phase = "testing", summary = "implemented" }

[[steps]]
summary = "Tested"
sleep = 1.0
overview = "update"
write = { "tests/test_greeting.py" = "def test_greet():\\n    pass\\n" }
commit = "test greeting"
signal = { status = "continue", phase = "quality", summary = "tests pass" }

[[steps]]
summary = "Reviewed"
sleep = 1.0
overview = "update"
signal = { status = "continue", phase = "done", summary = "no findings" }

[[steps]]
summary = "Summarized"
sleep = 1.0
overview = "update"
signal = { status = "done", summary = "greeting added" }
"""
ITERATIONS = 8
COMMITS = {"investigation notes", "plan", "add greeting", "test greeting"}
# Iterations during which the orchestrator is SIGKILLed: right as the agent starts (its
# orphan dies on its first output line, the iteration runs again), and once the agent is
# busy (the orphan finishes, commits and signals; the restart records its signal).
KILL_AT = ((2, False), (6, True))
DEADLINE = 120.0


@pytest.fixture()
def chaos_settings(monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Seconds instead of minutes; exported so the orchestrator processes use them too."""
    for name, value in {
        "LEASE_HEARTBEAT_SECONDS": "0.5",
        "LEASE_STALE_SECONDS": "10",
        "RESTART_BACKOFF_INITIAL_SECONDS": "0.5",
        "RESTART_BACKOFF_MAX_SECONDS": "2",
        "CRASH_LOOP_MAX_RESTARTS": "5",
        "CRASH_LOOP_WINDOW_SECONDS": "120",
    }.items():
        monkeypatch.setenv(f"SAMOFLOW_{name}", value)
    get_settings.cache_clear()
    return get_settings()


@pytest.fixture()
def session(repo: Path) -> Iterator[SessionFiles]:
    files = new_session(repo, SCENARIO, name="chaos", auto_approve=True)
    yield files
    _stop_everything(files)  # a failed test must not leave orchestrators or agents behind


def _stop_everything(files: SessionFiles) -> None:
    with contextlib.suppress(Exception):
        lease = read_lease(files.lease)
        if lease is not None:
            os.killpg(lease.pid, signal.SIGKILL)
    with contextlib.suppress(Exception):
        journal = read_journal(files.journal)
        if journal is not None and journal.agent_pid is not None:
            os.killpg(journal.agent_pid, signal.SIGKILL)


def _quietly(read: Callable[[], T]) -> T | None:
    """A file read racing a rename or removal: try again at the next poll."""
    try:
        return read()
    except (OSError, ValueError):
        return None


def _running_lease(files: SessionFiles) -> Lease | None:
    """The lease of an orchestrator that has taken over (not the monitor's placeholder)."""
    lease = _quietly(lambda: read_lease(files.lease))
    return lease if lease is not None and lease.started_by == "self" else None


def _agent_running_in(files: SessionFiles, iteration: int, *, busy: bool) -> bool:
    journal = _quietly(lambda: read_journal(files.journal))
    if journal is None or journal.iteration != iteration or journal.agent_pid is None:
        return False
    if not busy:
        return True
    log = files.iteration_log(iteration, journal.attempt, journal.phase)
    return f"iteration {iteration} attempt" in (_quietly(log.read_text) or "")


def _logs(files: SessionFiles) -> str:
    return "\n".join(p.read_text()[-3000:] for p in sorted(files.logs.glob("orchestrator-*.log")))


def _kill_mid_iteration(
    files: SessionFiles, iteration: int, busy: bool, monitor_step: Callable[[], None]
) -> int:
    """Wait (sweeping) until the agent runs iteration `iteration`, then SIGKILL its orchestrator."""
    def ready() -> bool:
        monitor_step()
        running = _agent_running_in(files, iteration, busy=busy)
        return _running_lease(files) is not None and running

    wait_until(ready, DEADLINE, f"iteration {iteration} in flight\n{_logs(files)}")
    lease = _running_lease(files)
    assert lease is not None
    os.kill(lease.pid, signal.SIGKILL)
    wait_until(lambda: not psutil.pid_exists(lease.pid) or
               psutil.Process(lease.pid).status() == psutil.STATUS_ZOMBIE,
               10, "the orchestrator to die")
    return lease.pid


def test_sigkilled_orchestrators_are_restarted_and_the_session_finishes_exactly_once(
    repo: Path, session: SessionFiles, chaos_settings: Settings
) -> None:
    notices: list[Notice] = []
    monitor = Monitor(settings=chaos_settings, notify=notices.append)
    checks: list[SessionCheck] = []

    def monitor_step() -> None:
        checks.extend(sweep(session.root.parent, monitor))

    launch_local(session)
    killed = [_kill_mid_iteration(session, n, busy, monitor_step) for n, busy in KILL_AT]

    def finished() -> bool:
        monitor_step()
        state = _quietly(lambda: load_state(session))
        return state is not None and state.lifecycle is not Lifecycle.ACTIVE \
            and not session.lease.exists()

    wait_until(finished, DEADLINE, f"the session to finish\n{_logs(session)}")

    assert load_state(session).lifecycle is Lifecycle.DONE, _logs(session)
    entries = read_history(session.history)
    assert [e.iteration for e in iterations(entries)] == list(range(1, ITERATIONS + 1))
    restarts = [e for e in entries if e.kind is EntryKind.SYSTEM]
    assert [e.summary for e in restarts] == [
        f"restarted by monitor: orchestrator pid {pid} dead" for pid in killed
    ]
    assert [c.verdict for c in checks].count(CheckVerdict.RESTARTED) == len(KILL_AT)
    assert iterations(entries)[4].attempts >= 2  # the agent killed itself once in step 5
    branch = git.Repo(repo).iter_commits("main..samoflow/chaos")
    assert {c.message.strip() for c in branch} == COMMITS
    assert notices == []


SHORT = """
[[steps]]
signal = { status = "continue", phase = "investigation" }

[[steps]]
signal = { status = "blocked", reason = "the short scenario ends here" }
"""


@pytest.mark.parametrize("own_root", [False, True], ids=["project-root", "worker-own-root"])
def test_the_monitor_flow_restarts_a_session_whose_orchestrator_died(
    repo: Path, chaos_settings: Settings, own_root: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    from samoflow.flows.monitor import monitor_flow

    files = new_session(repo, SHORT, name="short", auto_approve=True)
    if own_root:  # a worker of `up --own-roots`: it looks after the project's root too
        monkeypatch.setenv("SAMOFLOW_SESSIONS_ROOT", str(repo.parent / "worker-root"))
    try:
        write_lease(files.lease, lease_for(os.getpid(), 12345.0))  # a pid that is not its own
        checks = monitor_flow(str(repo))
        assert [(c.session, c.verdict) for c in checks] == [("short", CheckVerdict.RESTARTED)]
        wait_until(lambda: not files.lease.exists(), DEADLINE, f"the session\n{_logs(files)}")
        state = load_state(files)
        assert state.lifecycle is Lifecycle.BLOCKED
        assert state.reason == "the short scenario ends here"
        assert [e.iteration for e in iterations(read_history(files.history))] == [1, 2]
    finally:
        _stop_everything(files)
