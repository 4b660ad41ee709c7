"""A served machine from the user's side (`samoflow up` on PostgreSQL): `send` and `answer` from
a fresh shell reach the served session; a blocked run is Failed with its reason; a killed slot
holder's slot comes back; with the server dead, writes are refused; `up` again adopts the
worker (never two); `down` leaves no process of samoflow's and names the session to resume."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

import pytest
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName
from prefect.client.schemas.objects import StateType
from prefect.states import Scheduled

from samoflow.serve.local import AGENT_LIMIT, read_up
from samoflow.session.files import SessionFiles
from samoflow.session.journal import process_alive, read_journal
from tests.conftest import free_port, make_repo, wait_until
from tests.support.prefect_client import client_of
from tests.support.processes import ours

# A whole `samoflow up` story: minutes on 2 cores, more when the machine is shared.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

PSQL = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-qtAc"]
SAMOFLOW = [sys.executable, "-m", "samoflow.cli"]
BLOCKING = """
name = "blocks"
[[steps]]
overview = "init"
signal = { status = "blocked", reason = "needs the database password" }
"""
HOLD_A_SLOT = f"""
import time
from samoflow.tasks.iteration import agent_slot
with agent_slot({AGENT_LIMIT!r}, 60):
    print("held", flush=True)
    time.sleep(600)
"""


def cli(env: dict[str, str], *args: str, timeout: float = 400) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SAMOFLOW, *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def run_state(api_url: str, name: str) -> StateType | None:
    with client_of(api_url) as client:
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[name]))
        )
    return runs[0].state.type if runs and runs[0].state else None


FINAL = {StateType.COMPLETED, StateType.CANCELLED, StateType.FAILED, StateType.CRASHED}


def missed_monitor_runs(api_url: str, count: int) -> list[UUID]:
    """Runs of the monitor deployment that were due 15 minutes ago (the server was down)."""
    due = datetime.now(UTC) - timedelta(minutes=15)
    with client_of(api_url) as client:
        deployment = client.read_deployment_by_name("samoflow-monitor/monitor")
        return [
            client.create_flow_run_from_deployment(
                deployment.id, state=Scheduled(scheduled_time=due + timedelta(seconds=n))
            ).id
            for n in range(count)
        ]


def run_state_of(api_url: str, run_id: UUID) -> StateType | None:
    with client_of(api_url) as client:
        state = client.read_flow_run(run_id).state
    return state.type if state else None


@pytest.fixture()
def database() -> Iterator[str]:
    name = f"samoflow_reach_{uuid.uuid4().hex[:8]}"
    subprocess.run([*PSQL, f"create database {name}"], check=True, timeout=30)
    yield f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    subprocess.run([*PSQL, f"drop database if exists {name} with (force)"], timeout=60)


def test_a_served_machine_is_reached_from_any_shell_and_cleaned_up(
    tmp_path: Path, database: str
) -> None:
    home = tmp_path / "home"
    samoflow_home = home / ".samoflow"
    # A fresh shell: no Prefect variable at all, only where the user's home is.
    fresh = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    fresh |= {"HOME": str(home), "SAMOFLOW_HOME": str(samoflow_home)}
    repo = make_repo(tmp_path / "project")
    sessions = repo / ".samoflow" / "sessions"
    port = str(free_port())
    up_args = ("up", "--port", port, "--repo", str(repo), "--database-url", database)
    up = cli(fresh, *up_args)
    try:
        assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
        state = read_up(samoflow_home)
        assert state is not None
        api = state.api_url

        # The slot first, while nothing else holds one; its lease runs out while the rest goes on.
        holder = subprocess.Popen([sys.executable, "-c", HOLD_A_SLOT], stdout=subprocess.PIPE,
                                  env={**fresh, "PREFECT_API_URL": api}, text=True)
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert active_slots(api) == 1
        holder.kill()
        holder.wait()

        gated = cli(fresh, "run", "ask first", "--session", "gated", "--repo", str(repo),
                    "--agent", "scripted")
        assert "deployment run" in gated.stdout, gated.stdout + gated.stderr
        scenario = tmp_path / "blocks.toml"
        scenario.write_text(BLOCKING)
        blocked = cli(fresh, "run", "blocks", "--session", "blocked", "--repo", str(repo),
                      "--agent", "scripted", "--scenario", str(scenario), "--auto-approve")
        assert "deployment run" in blocked.stdout, blocked.stdout + blocked.stderr
        overdue = missed_monitor_runs(api, count=4)

        wait_until(lambda: run_state(api, "session-gated") is StateType.PAUSED, 240,
                   "the gated session to pause at its gate")
        sent = cli(fresh, "send", "gated", "use French", "--repo", str(repo), timeout=120)
        assert sent.returncode == 0 and "#1 in gated's inbox" in sent.stdout, sent.stdout
        answered = cli(fresh, "answer", "gated", "--text", "French", "--repo", str(repo))
        assert "the paused run" in answered.stdout, answered.stdout + answered.stderr
        delivered = sessions / "gated" / "_inbox"
        wait_until(lambda: any(delivered.rglob("msg-*")), 240,
                   "the message to reach the served session after the answer")

        wait_until(lambda: run_state(api, "session-blocked") is StateType.FAILED, 240,
                   "the blocked session's run to end Failed")
        with client_of(api) as client:
            [run] = client.read_flow_runs(
                flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=["session-blocked"]))
            )
            assert run.state is not None and run.state.name == "Blocked"
            assert "needs the database password" in (run.state.message or "")
            [monitor] = [d for d in client.read_deployments() if d.name == "monitor"]
            assert monitor.global_concurrency_limit is not None
            assert monitor.global_concurrency_limit.limit == 1
            assert monitor.concurrency_options is not None
            assert monitor.concurrency_options.collision_strategy.value == "CANCEL_NEW"

        wait_until(lambda: all(run_state_of(api, r) in FINAL for r in overdue), 240,
                   "the overdue monitor runs to end")
        ends = [run_state_of(api, r) for r in overdue]
        assert StateType.CANCELLED in ends, ends  # one sweep at a time: no replay storm
        assert not {StateType.FAILED, StateType.CRASHED} & set(ends), ends
        wait_until(lambda: active_slots(api) == 0, 180, "the killed holder's slot to come back")

        busy = cli(fresh, "run", "long", "--session", "busy", "--repo", str(repo), "--agent",
                   "command", "--agent-command", "sleep 300", "--auto-approve")
        assert "deployment run" in busy.stdout, busy.stdout + busy.stderr
        busy_files = SessionFiles(sessions / "busy")
        wait_until(lambda: _agent_running(busy_files), 240, "the busy session's agent")

        [server] = [p for p in state.processes if p.role == "server"]
        os.killpg(server.pid, signal.SIGKILL)
        wait_until(lambda: cli(fresh, "send", "busy", "x", "--repo", str(repo)).returncode == 2,
                   60, "writes to be refused while the served server is down")
        refused = cli(fresh, "send", "busy", "x", "--repo", str(repo))
        assert "nothing was written" in refused.stdout, refused.stdout

        again = cli(fresh, *up_args)
        assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
        assert "adopted worker-1" in again.stdout
        workers = [p for p in ours(samoflow_home) if "samoflow-worker-1" in p.cmdline()]
        assert len(workers) == 1
    finally:
        down = cli(fresh, "down", timeout=180)
    assert down.returncode == 0, down.stdout + down.stderr
    assert "resume with `samoflow run --session busy`" in down.stdout, down.stdout
    wait_until(lambda: not ours(samoflow_home), 60, "every process of samoflow's to end")
    assert not busy_files.lease.exists()


def active_slots(api_url: str) -> int:
    with client_of(api_url) as client:
        return client.read_global_concurrency_limit_by_name(AGENT_LIMIT).active_slots


def _agent_running(files: SessionFiles) -> bool:
    journal = read_journal(files.journal) if files.journal.exists() else None
    return journal is not None and process_alive(journal.agent_pid, journal.agent_started)
