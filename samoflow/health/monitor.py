"""The crash monitor's decisions: which sessions need an orchestrator, whether theirs lives,
when to restart one (exponential backoff), when to stop (crash-loop lockout) and tell a human.

Counters live in `_restarts.json` in the session folder. Every restart is decided under the
session's lease lock after reading the lease again, so two monitors never restart one
session twice; the restarted process gets a lease at once, before it has even started.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path

import psutil
from pydantic import BaseModel, ConfigDict, ValidationError

from samoflow.clock import utcnow
from samoflow.health.lease import (
    Lease,
    LeaseError,
    Liveness,
    lease_for,
    liveness,
    read_lease,
    running_elsewhere,
    session_lock,
    write_lease,
)
from samoflow.health.restart import Launched, Launcher, launch_local
from samoflow.health.restart_log import (
    Lockout,
    RestartEvent,
    RestartLog,
    backoff_seconds,
    read_restart_log,
    restart_entry,
    write_restart_log,
)
from samoflow.notices.notice import Notice, NoticeKind, session_notice
from samoflow.session.files import SessionFiles
from samoflow.session.gate import read_gate
from samoflow.session.history import (
    HistoryError,
    Outcome,
    append_entry,
    system_entry,
)
from samoflow.session.repair import load_state_repaired
from samoflow.session.spec import read_spec
from samoflow.session.state import HELD, Lifecycle, SessionState, load_state
from samoflow.session.store import all_sessions
from samoflow.settings import Settings

Notifier = Callable[[Notice], None]


class CheckVerdict(StrEnum):
    ALIVE = "alive"
    INACTIVE = "inactive"  # done, blocked, or waiting for a human: nothing to run
    NOT_RUNNING = "not-running"  # no lease: never started here, or stopped by a human
    HELD = "held"  # a human's stop or pause is pending or recorded: never restarted
    FOREIGN = "foreign"  # run from another host: not ours to judge
    BUSY = "busy"  # another monitor is deciding for this session right now
    BACKING_OFF = "backing-off"
    RESTARTED = "restarted"
    LOCKED_OUT = "locked-out"
    ERROR = "error"


class SessionCheck(BaseModel):
    model_config = ConfigDict(frozen=True)

    session: str
    verdict: CheckVerdict
    detail: str = ""
    pid: int | None = None


@dataclass(frozen=True)
class Monitor:
    """What a sweep needs from outside: timings, a way to tell humans, a way to launch."""

    settings: Settings
    notify: Notifier
    launch: Launcher = launch_local
    clock: Callable[[], datetime] = utcnow


@dataclass(frozen=True)
class _Dead:
    """A session that needs an orchestrator and whose lease proves it has none."""

    state: SessionState
    lease: Lease
    liveness: Liveness


def needs_orchestrator(files: SessionFiles, state: SessionState) -> bool:
    """New and active sessions; a gate only when no human is needed to pass it; never a
    session a human stopped or paused (its lifecycle says so, or its hold is pending)."""
    if files.hold.exists():
        return False
    if state.lifecycle in (Lifecycle.NEW, Lifecycle.ACTIVE):
        return True
    if state.lifecycle is not Lifecycle.WAITING:
        return False
    gate = read_gate(files.gate)
    answered = gate is not None and gate.answer is not None
    return answered or read_spec(files.spec).auto_approve_gates


def sweep(sessions_root: Path, monitor: Monitor) -> list[SessionCheck]:
    """One pass over every session under `sessions_root`, workers (`<task>/workers/<w>/`) too."""
    return [check_session(files, monitor) for files in all_sessions(sessions_root)]


def check_session(files: SessionFiles, monitor: Monitor) -> SessionCheck:
    try:
        _retry_lockout_notice(files, monitor)
        seen = _observe(files, monitor)
        if isinstance(seen, SessionCheck):
            return seen
        with session_lock(files) as locked:
            if not locked:
                return SessionCheck(session=files.name, verdict=CheckVerdict.BUSY,
                                    detail="the lease lock stayed held; next sweep decides")
            seen = _observe(files, monitor)  # again: another monitor may have acted meanwhile
            if isinstance(seen, SessionCheck):
                return seen
            return _recover(files, seen, monitor)
    except (LeaseError, HistoryError, ValidationError, OSError, ValueError) as error:
        return SessionCheck(session=files.name, verdict=CheckVerdict.ERROR, detail=str(error))


def _readable_state(files: SessionFiles, monitor: Monitor) -> SessionState:
    try:
        return load_state(files)
    except HistoryError:  # quarantined when nobody runs it; a live orchestrator does its own
        if running_elsewhere(files, monitor.settings):
            raise
        return load_state_repaired(files)


def _observe(files: SessionFiles, monitor: Monitor) -> SessionCheck | _Dead:
    state = _readable_state(files, monitor)
    if not needs_orchestrator(files, state):
        held = files.hold.exists() or state.lifecycle in HELD
        return SessionCheck(session=files.name,
                            verdict=CheckVerdict.HELD if held else CheckVerdict.INACTIVE,
                            detail=str(state.lifecycle))
    lease = read_lease(files.lease)
    if lease is None:
        return SessionCheck(
            session=files.name, verdict=CheckVerdict.NOT_RUNNING,
            detail=f"no lease; start it with `samoflow run --session {files.name}`",
        )
    now = monitor.clock()
    alive = liveness(lease, now=now, stale_seconds=monitor.settings.lease_stale_seconds)
    age = f"heartbeat {lease.heartbeat_age(now):.0f} s ago"
    if alive is Liveness.ALIVE:
        return SessionCheck(
            session=files.name, verdict=CheckVerdict.ALIVE, detail=age, pid=lease.pid
        )
    if alive is Liveness.FOREIGN:
        return SessionCheck(session=files.name, verdict=CheckVerdict.FOREIGN,
                            detail=f"run on {lease.host}, {age}", pid=lease.pid)
    grace = monitor.settings.convoy_member_grace_seconds
    if alive is Liveness.DEAD and _in_convoy(files) and lease.heartbeat_age(now) < grace:
        # Its convoy waits for its run and starts a crashed one again: two restarters
        # would race for the lease. The convoy acts first; if it is gone too, we do.
        return SessionCheck(session=files.name, verdict=CheckVerdict.BACKING_OFF,
                            detail=f"a convoy member: its convoy may restart it ({age})",
                            pid=lease.pid)
    return _Dead(state=state, lease=lease, liveness=alive)


def _in_convoy(files: SessionFiles) -> bool:
    return read_spec(files.spec).convoy is not None


def _recover(files: SessionFiles, dead: _Dead, monitor: Monitor) -> SessionCheck:
    """Under the lock: lock out a crash loop, wait out the backoff, or restart now."""
    settings, now = monitor.settings, monitor.clock()
    log = read_restart_log(files)
    recent = log.recent(now, settings.crash_loop_window_seconds)
    if len(recent) >= settings.crash_loop_max_restarts:
        return _lock_out(files, dead, log, monitor)
    wait = backoff_seconds(len(recent), settings)
    if recent and (left := wait - (now - recent[-1].at).total_seconds()) > 0:
        return SessionCheck(session=files.name, verdict=CheckVerdict.BACKING_OFF,
                            detail=f"restart {len(recent) + 1} in {left:.0f} s",
                            pid=dead.lease.pid)
    why = f"orchestrator pid {dead.lease.pid} {dead.liveness}"
    if dead.liveness is Liveness.HUNG:
        why += f" (heartbeat {dead.lease.heartbeat_age(now):.0f} s old), killed"
        _end_hung(dead.lease)
    append_entry(files.history, restart_entry(dead.state, f"restarted by monitor: {why}"))
    try:
        launched = monitor.launch(files)
    except OSError as error:
        _log_restart(files, log, RestartEvent(at=now, dead_pid=dead.lease.pid, new_pid=None,
                                              why=f"{why}; launch failed: {error}"))
        raise
    # Written at once, so no sweep sees the dead lease again while the new process starts.
    placeholder = lease_for(launched.pid, launched.started, started_by="monitor")
    write_lease(files.lease, placeholder.model_copy(update={"heartbeat_at": now}))
    _log_restart(files, log, _event(now, dead, launched, why))
    return SessionCheck(session=files.name, verdict=CheckVerdict.RESTARTED, pid=launched.pid,
                        detail=f"{why}; new pid {launched.pid}, log {launched.log_path.name}")


def _event(now: datetime, dead: _Dead, launched: Launched, why: str) -> RestartEvent:
    return RestartEvent(at=now, dead_pid=dead.lease.pid, new_pid=launched.pid, why=why,
                        log=str(launched.log_path))


def _log_restart(files: SessionFiles, log: RestartLog, event: RestartEvent) -> None:
    write_restart_log(files, log.model_copy(update={"restarts": (*log.restarts, event)}))


def _end_hung(lease: Lease) -> None:
    """Kill a hung orchestrator (the very process of the lease) before another takes over."""
    try:
        process = psutil.Process(lease.pid)
        if abs(process.create_time() - lease.started) < 0.01:
            process.kill()
            process.wait(timeout=10)
    except psutil.Error:
        pass  # already gone: nothing left to stop


def _lock_out(files: SessionFiles, dead: _Dead, log: RestartLog, monitor: Monitor) -> SessionCheck:
    """Too many restarts: block the session (a human resumes it) and say so once."""
    settings = monitor.settings
    logs = [e.log for e in log.restarts if e.log]
    reason = (
        f"crash loop: the orchestrator died again after {settings.crash_loop_max_restarts} "
        f"monitor restarts within {settings.crash_loop_window_seconds:.0f} s; "
        f"last log {logs[-1] if logs else 'none'}"
    )
    append_entry(files.history, system_entry(
        dead.state.last_iteration, dead.state.phase.value, outcome=Outcome.BLOCKED, reason=reason
    ))
    lockout = Lockout(at=monitor.clock(), reason=reason)
    write_restart_log(files, log.model_copy(update={"lockouts": (*log.lockouts, lockout)}))
    told = _send_lockout_notice(files, monitor, lockout)
    note = "" if told else " (telling a human failed; the next sweep tries again)"
    return SessionCheck(session=files.name, verdict=CheckVerdict.LOCKED_OUT, detail=reason + note,
                        pid=dead.lease.pid)


def _send_lockout_notice(files: SessionFiles, monitor: Monitor, lockout: Lockout) -> bool:
    try:
        monitor.notify(session_notice(
            files, NoticeKind.BLOCKED, lockout.reason,
            next_step=f"read the orchestrator log, fix the cause, then "
                      f"`samoflow run --session {files.name}`",
        ))
    except Exception:  # any channel failure: the lockout stays recorded, the next sweep retries
        return False
    log = read_restart_log(files)
    marked = tuple(_notified(item, lockout) for item in log.lockouts)
    write_restart_log(files, log.model_copy(update={"lockouts": marked}))
    return True


def _notified(item: Lockout, sent: Lockout) -> Lockout:
    return item.model_copy(update={"notified": True}) if item == sent else item


def _retry_lockout_notice(files: SessionFiles, monitor: Monitor) -> None:
    """A lockout whose notice failed (say Slack was down) is told on the next sweep."""
    log = read_restart_log(files)
    if log.lockouts and not log.lockouts[-1].notified:
        with session_lock(files) as locked:
            log = read_restart_log(files)
            if locked and log.lockouts and not log.lockouts[-1].notified:
                _send_lockout_notice(files, monitor, log.lockouts[-1])


def summarize(checks: list[SessionCheck]) -> Iterator[str]:
    """One line per check that is worth a human's eye (everything but quiet states)."""
    quiet = (CheckVerdict.ALIVE, CheckVerdict.INACTIVE, CheckVerdict.NOT_RUNNING,
             CheckVerdict.HELD)
    for check in checks:
        if check.verdict not in quiet:
            yield f"{check.session}: {check.verdict} {check.detail}".rstrip()

