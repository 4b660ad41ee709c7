"""`_lease.json`: which process orchestrates a session now, and the proof that it is alive.

The lease names a host, a pid and that process's start time (a reused pid is someone else),
the flow run, and a heartbeat refreshed from a daemon thread. It is taken and changed only
under `_lease.lock` (flock), the same lock the monitor holds while it decides a restart.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path

import psutil
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from samoflow.atomic import atomic_write_model, read_model
from samoflow.clock import utcnow
from samoflow.health.stop import is_termination, record_stop
from samoflow.session.files import SessionFiles
from samoflow.session.journal import process_alive
from samoflow.settings import Settings, get_settings

# Nobody holds the lease lock for more than a few file operations; longer means trouble.
LOCK_DEADLINE_SECONDS = 10.0


class LeaseError(RuntimeError):
    """A lease that cannot be read, or is held by another live orchestrator."""


class Lease(BaseModel):
    model_config = ConfigDict(frozen=True)

    host: str
    pid: int
    started: float  # psutil create_time of `pid`
    flow_run_id: str | None = None
    acquired_at: datetime = Field(default_factory=utcnow)
    heartbeat_at: datetime = Field(default_factory=utcnow)
    started_by: str = "self"  # "monitor": written for a process the monitor just launched

    def owned_by(self, pid: int, started: float) -> bool:
        same_process = self.pid == pid and abs(self.started - started) < 0.01
        return same_process and self.host == socket.gethostname()

    def heartbeat_age(self, now: datetime) -> float:
        return (now - self.heartbeat_at).total_seconds()


class Liveness(StrEnum):
    ALIVE = "alive"  # this host, same process, fresh heartbeat
    DEAD = "dead"  # the process is gone (or the pid belongs to another process now)
    HUNG = "hung"  # the process exists but its heartbeat is stale
    FOREIGN = "foreign"  # held on another host: its pid cannot be checked from here


def process_identity(pid: int | None = None) -> tuple[int, float]:
    """(pid, start time) of a process, this one by default."""
    process = psutil.Process(pid if pid is not None else os.getpid())
    return process.pid, process.create_time()


def lease_for(pid: int, started: float, *, flow_run_id: str | None = None,
              started_by: str = "self") -> Lease:
    return Lease(host=socket.gethostname(), pid=pid, started=started,
                 flow_run_id=flow_run_id, started_by=started_by)


def read_lease(path: Path) -> Lease | None:
    """The lease on disk; an unreadable one is an error, never "no lease"."""
    try:
        return read_model(path, Lease)
    except ValidationError as error:
        why = " ".join(str(error).split())
        raise LeaseError(
            f"{path} is unreadable ({why[:200]}): if no samoflow process runs this session "
            f"(`samoflow status`), delete that file and run again"
        ) from error


def write_lease(path: Path, lease: Lease) -> None:
    atomic_write_model(path, lease)


def liveness(lease: Lease, *, now: datetime, stale_seconds: float) -> Liveness:
    if lease.host != socket.gethostname():
        return Liveness.FOREIGN
    if not process_alive(lease.pid, lease.started):
        return Liveness.DEAD
    if lease.heartbeat_age(now) > stale_seconds:
        return Liveness.HUNG
    return Liveness.ALIVE


def running_elsewhere(files: SessionFiles, settings: Settings) -> bool:
    """Another orchestrator holds a live lease: it runs the session (the monitor restarted
    it, say); a dead or hung holder, or no lease, leaves the session to be started."""
    held = read_lease(files.lease)
    if held is None or held.owned_by(*process_identity()):
        return False
    now = utcnow()
    state = liveness(held, now=now, stale_seconds=settings.lease_stale_seconds)
    fresh = held.heartbeat_age(now) <= settings.lease_stale_seconds
    return state is Liveness.ALIVE or (state is Liveness.FOREIGN and fresh)


@contextlib.contextmanager
def session_lock(
    files: SessionFiles, deadline_seconds: float = LOCK_DEADLINE_SECONDS
) -> Iterator[bool]:
    """flock on `_lease.lock`; yields False if it stayed held by another for the deadline."""
    with files.lease_lock.open("a") as handle:
        deadline = time.monotonic() + deadline_seconds
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    yield False
                    return
                time.sleep(0.01)
        try:
            yield True
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


@contextlib.contextmanager
def _locked(files: SessionFiles) -> Iterator[None]:
    with session_lock(files) as got:
        if not got:
            raise LeaseError(f"{files.lease_lock} stays locked by another process")
        yield


def acquire(files: SessionFiles, settings: Settings, flow_run_id: str | None = None) -> Lease:
    """Take the lease for this process; only a provably dead holder's lease is taken over."""
    pid, started = process_identity()
    with _locked(files):
        held = read_lease(files.lease)
        if held is not None and not held.owned_by(pid, started):
            state = liveness(held, now=utcnow(), stale_seconds=settings.lease_stale_seconds)
            if state is not Liveness.DEAD:  # a hung or remote one could still write: never two
                raise LeaseError(
                    f"session {files.name} is held by pid {held.pid} on {held.host} ({state}, "
                    f"heartbeat {held.heartbeat_age(utcnow()):.0f} s ago); stop that process "
                    f"first (or delete {files.lease.name} if that host is gone for good)"
                )
        kept = held.flow_run_id if held is not None and held.owned_by(pid, started) else None
        lease = lease_for(pid, started, flow_run_id=flow_run_id or kept)
        write_lease(files.lease, lease)
        return lease


def refresh(files: SessionFiles, pid: int, started: float) -> bool:
    """Renew the heartbeat if the lease is still ours; False once another process took it."""
    with _locked(files):
        held = read_lease(files.lease)
        if held is None or not held.owned_by(pid, started):
            return False
        write_lease(files.lease, held.model_copy(update={"heartbeat_at": utcnow()}))
        return True


def release(files: SessionFiles, pid: int, started: float) -> None:
    """Remove the lease if it is still ours (a successor's lease is left alone)."""
    with _locked(files):
        held = read_lease(files.lease)
        if held is not None and held.owned_by(pid, started):
            files.lease.unlink(missing_ok=True)


@dataclass
class _Holding:
    """One heartbeat thread per session per process; nested holds share it."""

    stop: threading.Event
    thread: threading.Thread
    depth: int = 1


_HELD: dict[Path, _Holding] = {}
_HELD_GUARD = threading.Lock()


def _beat(files: SessionFiles, interval: float, stop: threading.Event) -> None:
    pid, started = process_identity()
    while not stop.wait(interval):
        try:
            if not refresh(files, pid, started):
                return  # another orchestrator took the session over: it beats now
        except (OSError, LeaseError):
            continue  # a transient file error must not end the heartbeat: retry next beat


def _enter(files: SessionFiles, settings: Settings, flow_run_id: str | None) -> None:
    key = files.root.resolve()
    with _HELD_GUARD:
        holding = _HELD.get(key)
        if holding is not None:
            if flow_run_id is not None:
                acquire(files, settings, flow_run_id)
            holding.depth += 1
            return
        acquire(files, settings, flow_run_id)
        stop = threading.Event()
        thread = threading.Thread(
            target=_beat, args=(files, settings.lease_heartbeat_seconds, stop),
            name=f"lease-heartbeat-{files.name}", daemon=True,
        )
        _HELD[key] = _Holding(stop=stop, thread=thread)
        thread.start()


def _leave(files: SessionFiles, *, release_lease: bool) -> None:
    key = files.root.resolve()
    with _HELD_GUARD:
        holding = _HELD[key]
        holding.depth -= 1
        if holding.depth > 0:
            return
        del _HELD[key]
    holding.stop.set()
    holding.thread.join()
    if release_lease:
        release(files, *process_identity())


@contextlib.contextmanager
def hold_lease(
    files: SessionFiles, *, flow_run_id: str | None = None, settings: Settings | None = None
) -> Iterator[None]:
    """Hold the session's lease while the body runs, heartbeat included.

    A clean end (done, blocked, a gate) or Ctrl-C releases it; a crash leaves it behind on
    purpose, so the monitor sees a dead orchestrator and restarts the session.
    """
    _enter(files, settings or get_settings(), flow_run_id)
    try:
        yield
    except KeyboardInterrupt:
        _leave(files, release_lease=True)
        raise
    except BaseException as error:
        stopped = is_termination(error)  # SIGTERM: told to stop, not a crash
        _leave(files, release_lease=stopped)
        if stopped:
            record_stop(files)
        raise
    _leave(files, release_lease=True)
