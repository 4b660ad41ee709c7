"""`_lease.json`: who runs a session, and how liveness is proven (pid + start time + heartbeat)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from samoflow.clock import utcnow
from samoflow.health.lease import (
    Lease,
    LeaseError,
    Liveness,
    acquire,
    hold_lease,
    lease_for,
    liveness,
    process_identity,
    read_lease,
    refresh,
    running_elsewhere,
    write_lease,
)
from samoflow.session.files import SessionFiles
from samoflow.settings import Settings
from tests.conftest import wait_until

FAST = Settings(lease_heartbeat_seconds=0.05, lease_stale_seconds=5)


@pytest.fixture()
def files(tmp_path: Path) -> SessionFiles:
    root = tmp_path / "s1"
    root.mkdir()
    return SessionFiles(root)


@pytest.fixture()
def other_process() -> Iterator[subprocess.Popen[bytes]]:
    """A live process that is not this one, to hold leases in tests."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield process
    process.kill()
    process.wait()


def lease_of(pid: int, **changes: object) -> Lease:
    _, started = process_identity(pid)
    return lease_for(pid, started).model_copy(update=changes)


def test_a_live_process_with_a_fresh_heartbeat_is_alive() -> None:
    lease = lease_of(process_identity()[0])
    assert liveness(lease, now=utcnow(), stale_seconds=30) is Liveness.ALIVE


def test_a_reused_pid_is_dead_because_its_start_time_differs() -> None:
    lease = lease_of(process_identity()[0], started=12345.0)
    assert liveness(lease, now=utcnow(), stale_seconds=30) is Liveness.DEAD


def test_an_exited_process_is_dead(other_process: subprocess.Popen[bytes]) -> None:
    lease = lease_of(other_process.pid)
    other_process.kill()
    other_process.wait()
    assert liveness(lease, now=utcnow(), stale_seconds=30) is Liveness.DEAD


def test_a_live_process_with_a_stale_heartbeat_is_hung() -> None:
    lease = lease_of(process_identity()[0], heartbeat_at=utcnow() - timedelta(seconds=31))
    assert liveness(lease, now=utcnow(), stale_seconds=30) is Liveness.HUNG


def test_a_lease_from_another_host_is_foreign() -> None:
    lease = lease_of(process_identity()[0], host="elsewhere.invalid")
    assert liveness(lease, now=utcnow(), stale_seconds=30) is Liveness.FOREIGN


def test_hold_lease_records_this_process_and_the_flow_run(files: SessionFiles) -> None:
    pid, started = process_identity()
    with hold_lease(files, flow_run_id="run-1", settings=FAST):
        lease = read_lease(files.lease)
        assert lease is not None and lease.owned_by(pid, started)
        assert lease.flow_run_id == "run-1" and lease.started_by == "self"


def test_the_heartbeat_is_refreshed_while_the_lease_is_held(files: SessionFiles) -> None:
    with hold_lease(files, settings=FAST):
        first = read_lease(files.lease)
        assert first is not None

        def beaten() -> bool:
            now = read_lease(files.lease)
            return now is not None and now.heartbeat_at > first.heartbeat_at

        wait_until(beaten, 5, "a heartbeat")


def test_a_clean_end_releases_the_lease(files: SessionFiles) -> None:
    with hold_lease(files, settings=FAST):
        pass
    assert not files.lease.exists()


def test_ctrl_c_releases_the_lease(files: SessionFiles) -> None:
    with pytest.raises(KeyboardInterrupt), hold_lease(files, settings=FAST):
        raise KeyboardInterrupt
    assert not files.lease.exists()


def test_a_crash_leaves_the_lease_for_the_monitor(files: SessionFiles) -> None:
    with pytest.raises(RuntimeError), hold_lease(files, settings=FAST):
        raise RuntimeError("boom")
    lease = read_lease(files.lease)
    assert lease is not None and lease.owned_by(*process_identity())


def test_a_nested_hold_shares_the_lease_and_only_the_outer_releases(files: SessionFiles) -> None:
    with hold_lease(files, settings=FAST):
        with hold_lease(files, flow_run_id="inner-run", settings=FAST):
            pass
        lease = read_lease(files.lease)
        assert lease is not None and lease.flow_run_id == "inner-run"
    assert not files.lease.exists()


def test_a_lease_held_by_another_live_orchestrator_is_refused(
    files: SessionFiles, other_process: subprocess.Popen[bytes]
) -> None:
    write_lease(files.lease, lease_of(other_process.pid))
    with pytest.raises(LeaseError, match="alive"):
        acquire(files, FAST)


def test_a_hung_orchestrators_lease_is_not_taken_over(
    files: SessionFiles, other_process: subprocess.Popen[bytes]
) -> None:
    stale = utcnow() - timedelta(seconds=FAST.lease_stale_seconds + 1)
    write_lease(files.lease, lease_of(other_process.pid, heartbeat_at=stale))
    with pytest.raises(LeaseError, match="hung"):
        acquire(files, FAST)


def test_a_dead_orchestrators_lease_is_taken_over(files: SessionFiles) -> None:
    write_lease(files.lease, lease_of(process_identity()[0], started=12345.0))
    lease = acquire(files, FAST, flow_run_id="new-run")
    assert lease.owned_by(*process_identity()) and lease.flow_run_id == "new-run"


def test_the_process_a_monitor_launched_takes_over_its_provisional_lease(
    files: SessionFiles,
) -> None:
    pid, started = process_identity()
    write_lease(files.lease, lease_for(pid, started, started_by="monitor"))
    assert acquire(files, FAST).started_by == "self"


def test_a_heartbeat_never_overwrites_a_successors_lease(
    files: SessionFiles, other_process: subprocess.Popen[bytes]
) -> None:
    successor = lease_of(other_process.pid)
    write_lease(files.lease, successor)
    assert refresh(files, *process_identity()) is False
    assert read_lease(files.lease) == successor


def test_an_unreadable_lease_is_an_error_not_an_absent_one(files: SessionFiles) -> None:
    files.lease.write_text("{half a lease")
    with pytest.raises(LeaseError, match="unreadable"):
        read_lease(files.lease)


def test_running_elsewhere_only_for_another_live_holder(
    files: SessionFiles, other_process: subprocess.Popen[bytes]
) -> None:
    assert not running_elsewhere(files, FAST)  # no lease
    write_lease(files.lease, lease_of(other_process.pid))
    assert running_elsewhere(files, FAST)  # the monitor's restart, say: wait for it
    stale = utcnow() - timedelta(seconds=60)
    write_lease(files.lease, lease_of(other_process.pid, heartbeat_at=stale))
    assert not running_elsewhere(files, FAST)  # hung: not running the session
    write_lease(files.lease, lease_of(process_identity()[0]))
    assert not running_elsewhere(files, FAST)  # this process's own lease
    write_lease(files.lease, lease_of(other_process.pid, host="elsewhere"))
    assert running_elsewhere(files, FAST)  # another host with a fresh heartbeat
    write_lease(files.lease, lease_of(other_process.pid))
    other_process.kill()
    other_process.wait()
    assert not running_elsewhere(files, FAST)  # its process is gone
