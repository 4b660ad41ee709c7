"""A served machine from the user's side, one `samoflow up` from start to `samoflow down`.

`up` in a fresh shell: its own PostgreSQL, the Prefect server on it, the pool (flow runs start
Prefect's engine directly), deployments, blocks, automations, a worker. Then, all at once, as
deployment runs on that worker:
- a session runs to done;
- a convoy whose conflicting member is sent back, runs again as a NEW deployment run (its
  `merge_fixup` message delivered through Prefect), resolves the conflict with real git and
  lands;
- a gated session pauses; `send` and `answer` from a fresh shell reach it;
- a blocked session's run ends Failed with its reason;
- overdue monitor runs: one sweep at a time, no replay storm;
- a killed slot holder's slot comes back.
With the server dead, writes are refused; `up` again adopts the worker and the PostgreSQL
(never two); `down` leaves no process of samoflow's, the PostgreSQL included (its data stays),
and names the session to resume.

One story, not two: each `up` costs the 2-core machine about 40 s of CPU (server, database,
deploy, worker), and the suite runs on that machine.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

import psutil
import pytest
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName
from prefect.client.schemas.objects import StateType
from prefect.states import Scheduled

from samoflow.prefect_api.provision import engine_command
from samoflow.serve import embedded_postgres
from samoflow.serve.local import AGENT_LIMIT, read_up
from samoflow.session.files import SessionFiles
from samoflow.session.journal import process_alive, read_journal
from tests.conftest import free_port, make_repo, wait_until
from tests.support.convoys import full_scenario, start_served_convoy, writes_shared_file
from tests.support.merge_queue import fixup_steps
from tests.support.prefect_client import client_of
from tests.support.processes import ours

# A whole `samoflow up` story: minutes on 2 cores, more when the machine is shared.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

SAMOFLOW = [sys.executable, "-m", "samoflow.cli"]
DEPLOYMENTS = {
    "samoflow-session/session",
    "samoflow-start-session/start",
    "samoflow-convoy/convoy",
    "samoflow-monitor/monitor",
    "samoflow-stall-handler/stall",
    "samoflow-send-message/send-message",
}
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
FINAL = {StateType.COMPLETED, StateType.CANCELLED, StateType.FAILED, StateType.CRASHED}


def cli(env: dict[str, str], *args: str, timeout: float = 400) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SAMOFLOW, *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def test_a_served_machine_from_up_to_down(tmp_path: Path) -> None:
    home = tmp_path / "home"
    samoflow_home = home / ".samoflow"
    # A fresh shell: no Prefect variable at all, only where the user's home is.
    fresh = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    fresh |= {"HOME": str(home), "SAMOFLOW_HOME": str(samoflow_home)}
    repo = make_repo(tmp_path / "project")
    sessions = repo / ".samoflow" / "sessions"
    port = str(free_port())
    up_args = ("up", "--port", port, "--repo", str(repo))
    up = cli(fresh, *up_args)
    state = read_up(samoflow_home)
    assert state is not None
    spawned = [p for started in state.processes for p in tree(started.pid)]
    data = embedded_postgres.data_dir(samoflow_home)
    try:
        assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
        assert f"http://127.0.0.1:{port}" in up.stdout
        api = state.api_url
        postgres = [p for p in state.processes if p.role == "postgres"]
        running = embedded_postgres.running_postmaster(data)
        assert running is not None and [p.pid for p in postgres] == [running[0].pid]
        assert state.database_url == embedded_postgres.database_url(running[1])
        _provisioned(api)

        # The slot first, while nothing else holds one; its lease runs out while the rest goes on.
        holder = subprocess.Popen(
            [sys.executable, "-c", HOLD_A_SLOT],
            stdout=subprocess.PIPE,
            env={**fresh, "PREFECT_API_URL": api},
            text=True,
        )
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert active_slots(api) == 1
        holder.kill()
        holder.wait()

        served = cli(fresh, "run", "served task", "--session", "served", "--repo", str(repo),
                     "--auto-approve", "--agent", "scripted", timeout=180)
        assert served.returncode == 0 and "deployment run" in served.stdout, (
            served.stdout + served.stderr
        )
        UUID(served.stdout.split("deployment run ")[1].split(":")[0])
        start_served_convoy(SAMOFLOW, _conflicting_plan(tmp_path), repo, fresh)
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

        wait_until(lambda: all(run_state_of(api, r) in FINAL for r in overdue), 240,
                   "the overdue monitor runs to end")
        ends = [run_state_of(api, r) for r in overdue]
        assert StateType.CANCELLED in ends, ends  # one sweep at a time: no replay storm
        assert not {StateType.FAILED, StateType.CRASHED} & set(ends), ends

        history = sessions / "served" / "_signal_history.jsonl"
        wait_until(lambda: history.exists() and '"outcome":"done"' in history.read_text(), 240,
                   "the worker to run the session to done")
        _convoy_landed(repo, api)
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
        assert "adopted worker-1" in again.stdout and "adopted postgres" in again.stdout
        workers = [p for p in ours(samoflow_home) if "samoflow-worker-1" in p.cmdline()]
        assert len(workers) == 1
        still = embedded_postgres.running_postmaster(data)
        assert still is not None and [p.pid for p in postgres] == [still[0].pid]
    finally:
        down = cli(fresh, "down", timeout=180)
    assert down.returncode == 0, down.stdout + down.stderr
    assert "resume with `samoflow run --session busy`" in down.stdout, down.stdout
    wait_until(lambda: not ours(samoflow_home), 60, "every process of samoflow's to end")
    wait_until(
        lambda: not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in spawned),
        30,
        "every started process to end",
    )
    assert not busy_files.lease.exists()
    assert read_up(samoflow_home) is None
    assert embedded_postgres.running_postmaster(data) is None
    assert (data / "PG_VERSION").is_file()  # the next `up` serves the same database


def _provisioned(api: str) -> None:
    """What `up` set up on the server, read back through the client."""
    with client_of(api) as client:
        flows = {f.id: f.name for f in client.read_flows()}
        deployments = client.read_deployments()
        assert {f"{flows[d.flow_id]}/{d.name}" for d in deployments} >= DEPLOYMENTS
        assert "samoflow" in {p.name for p in client.read_work_pools()}
        # Flow runs start Prefect's engine directly, not through its workspace supervisor.
        pool = client.read_work_pool("samoflow").base_job_template
        assert pool["variables"]["properties"]["command"]["default"] == engine_command()
        assert client.read_automations()
        block_types = {b.slug for b in client.read_block_types()}
        assert {"samoflow-agent-config", "samoflow-slack-alerts"} <= block_types
        [monitor] = [d for d in deployments if d.name == "monitor"]
        assert monitor.global_concurrency_limit is not None
        assert monitor.global_concurrency_limit.limit == 1
        assert monitor.concurrency_options is not None
        assert monitor.concurrency_options.collision_strategy.value == "CANCEL_NEW"


def _conflicting_plan(folder: Path) -> Path:
    """Two members that write the same file; one at a time, so `right` conflicts at merge."""
    union = fixup_steps(rule="union")
    scenarios = {
        "left": full_scenario(first_step_extra=writes_shared_file("left\n")) + union,
        "right": full_scenario(first_step_extra=writes_shared_file("right\n")) + union,
    }
    lines = ['name = "sq"', "concurrency = 1"]
    for name, text in scenarios.items():
        (folder / f"{name}.toml").write_text(text)
        lines += ["[[sessions]]", f'name = "{name}"', f'task = "task {name}"']
        lines += [f'scenario = "{name}.toml"', "auto_approve = true"]
    plan = folder / "sq.toml"
    plan.write_text("\n".join(lines) + "\n")
    return plan


def _convoy_landed(repo: Path, api: str) -> None:
    """The served convoy announced; `right` conflicted, ran again as a run of its own, landed."""
    record = repo / ".samoflow" / "sessions" / "_convoys" / "sq.json"

    def announced() -> bool:
        return record.exists() and json.loads(record.read_text()).get("notice") is not None

    wait_until(announced, 480, "the served convoy to finish")
    members = {m["name"]: m for m in json.loads(record.read_text())["members"]}
    assert [m["state"] for m in members.values()] == ["done", "done"], members
    assert [r["verdict"] for r in members["left"]["rounds"]] == ["landed"]
    assert [r["verdict"] for r in members["right"]["rounds"]] == ["conflict", "landed"]
    assert members["right"]["runs"] == 2  # the fix-up was a run of its own
    with client_of(api) as client:
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                name=FlowRunFilterName(any_=["session-right (convoy sq)"])
            )
        )
    assert sorted(r.state.type.value for r in runs if r.state) == ["COMPLETED", "COMPLETED"]
    shared = subprocess.run(
        ["git", "show", "samoflow/convoy/sq:shared.txt"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert sorted(shared.splitlines()) == ["left", "right"]


def run_state(api_url: str, name: str) -> StateType | None:
    with client_of(api_url) as client:
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[name]))
        )
    return runs[0].state.type if runs and runs[0].state else None


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


def active_slots(api_url: str) -> int:
    with client_of(api_url) as client:
        return client.read_global_concurrency_limit_by_name(AGENT_LIMIT).active_slots


def _agent_running(files: SessionFiles) -> bool:
    journal = read_journal(files.journal) if files.journal.exists() else None
    return journal is not None and process_alive(journal.agent_pid, journal.agent_started)
