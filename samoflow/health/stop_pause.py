"""Stop, pause and resume a session from outside its orchestrator, without orphans.

A stop writes the hold, ends the agent's process group at once (the very process of the
journal), and lets the orchestrator record `stopped` and release its lease; one that does
not within `stop_wait_seconds` (asleep at a gate or a rate-limit wait) is ended too, and
the row and the lease are settled here. A pause only writes the hold: the running
iteration finishes, the orchestrator records `paused` before the next one. Where no
orchestrator is alive the row is written at once. Worktree and branch are never touched.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from dataclasses import dataclass

import psutil

from samoflow.agents.process import kill_process_group
from samoflow.clock import utcnow
from samoflow.health.lease import (
    Liveness,
    liveness,
    process_identity,
    read_lease,
    running_elsewhere,
    session_lock,
)
from samoflow.session.files import SessionFiles
from samoflow.session.hold import Hold, HoldKind, lift_hold, read_hold, record_hold, request_hold
from samoflow.session.journal import process_alive, read_journal
from samoflow.session.state import HELD, Lifecycle, load_state
from samoflow.settings import Settings

FINISHED = (Lifecycle.DONE, Lifecycle.BLOCKED)


@dataclass(frozen=True)
class HoldOutcome:
    """What a stop / pause / resume did to one session, in words for the CLI and chats."""

    session: str
    done: bool
    detail: str


def end_agent(files: SessionFiles) -> bool:
    """Kill the journal's agent process group if it is still the very process we started."""
    journal = read_journal(files.journal)
    if journal is None or not process_alive(journal.agent_pid, journal.agent_started):
        return False
    assert journal.agent_pid is not None
    kill_process_group(journal.agent_pid)
    return True


def honour_hold(files: SessionFiles) -> bool:
    """The orchestrator's check between iterations: True when a hold ends its run here."""
    if not files.hold.exists():
        return False
    hold = read_hold(files)
    if hold is None:
        return False
    with session_lock(files):  # the row once, whoever records it (flow, CLI, hook)
        record_hold(files, hold)
    return True


def settle(files: SessionFiles, hold: Hold, settings: Settings) -> None:
    """Record the hold's row and remove a lease whose holder is gone (or is this process)."""
    with session_lock(files):
        record_hold(files, hold)
        lease = read_lease(files.lease)
        if lease is None:
            return
        state = liveness(lease, now=utcnow(), stale_seconds=settings.lease_stale_seconds)
        if state is Liveness.DEAD or lease.owned_by(*process_identity()):
            files.lease.unlink(missing_ok=True)


def _wait_for_orchestrator(files: SessionFiles, settings: Settings) -> bool:
    """Until the orchestrator recorded the stop and let go; False at the deadline."""
    deadline = time.monotonic() + settings.stop_wait_seconds
    while time.monotonic() < deadline:
        if not running_elsewhere(files, settings):
            return True
        time.sleep(0.2)
    return False


def _end_orchestrator(files: SessionFiles) -> None:
    """SIGTERM the lease's process (verified by start time), SIGKILL if it lingers."""
    lease = read_lease(files.lease)
    if lease is None or not process_alive(lease.pid, lease.started):
        return
    try:
        process = psutil.Process(lease.pid)
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)
    except psutil.TimeoutExpired:
        process.kill()
    except psutil.Error:
        pass  # gone meanwhile: nothing left to end


def stop_sessions(
    many: list[SessionFiles],
    by: str,
    settings: Settings,
    release_gate: Callable[[SessionFiles], None] = lambda files: None,
) -> list[HoldOutcome]:
    """Every agent ended first, then each orchestrator waited for: a convoy stops at once.

    A run paused at a gate waits in Prefect, not on our files: `release_gate` lets it go on,
    so it sees the stop (the session is no longer waiting) and ends.
    """
    asked: list[tuple[SessionFiles, Hold, bool]] = []
    outcomes: list[HoldOutcome] = []
    for files in many:
        lifecycle = load_state(files).lifecycle
        if lifecycle in FINISHED or lifecycle is Lifecycle.STOPPED:
            outcomes.append(HoldOutcome(files.name, False, f"nothing to stop: it is {lifecycle}"))
            continue
        asked.append((files, request_hold(files, HoldKind.STOP, by), end_agent(files)))
        if lifecycle is Lifecycle.WAITING:
            settle(files, asked[-1][1], settings)  # recorded first: the released run sees it
            release_gate(files)
    for files, hold, killed in asked:
        if running_elsewhere(files, settings) and not _wait_for_orchestrator(files, settings):
            _end_orchestrator(files)
        end_agent(files)  # an attempt that started meanwhile goes too
        settle(files, hold, settings)
        agent = "its agent ended" if killed else "no agent was running"
        outcomes.append(HoldOutcome(files.name, True, f"stopped by {by} ({agent})"))
    return outcomes


def pause_session(files: SessionFiles, by: str, settings: Settings) -> HoldOutcome:
    lifecycle = load_state(files).lifecycle
    if lifecycle in FINISHED or lifecycle in HELD:
        return HoldOutcome(files.name, False, f"nothing to pause: it is {lifecycle}")
    hold = request_hold(files, HoldKind.PAUSE, by)
    if running_elsewhere(files, settings):
        return HoldOutcome(files.name, True, "pausing: the running iteration finishes first")
    settle(files, hold, settings)
    return HoldOutcome(files.name, True, f"paused by {by}")


def resume_session(files: SessionFiles, by: str) -> HoldOutcome:
    """The hold lifted and recorded; starting the orchestrator again is the caller's."""
    if not lift_hold(files, by):
        lifecycle = load_state(files).lifecycle
        return HoldOutcome(files.name, False, f"not stopped or paused: it is {lifecycle}")
    return HoldOutcome(files.name, True, f"resumed by {by}")


def stop_after_cancellation(files: SessionFiles, by: str, settings: Settings) -> None:
    """A flow run cancelled in Prefect: the same as a stop, its orchestrator already gone."""
    if load_state(files).lifecycle in (*FINISHED, *HELD):
        return
    hold = request_hold(files, HoldKind.STOP, by)
    end_agent(files)
    settle(files, hold, settings)
