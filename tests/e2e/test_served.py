"""`samoflow up` on a fresh home: its own PostgreSQL, the server on it, pool, deployments,
blocks, automations, a worker that runs a session from a deployment run and, at the same
time, a convoy whose members are runs of the session deployment: a conflicting member is
sent back, runs again as a NEW deployment run (its `merge_fixup` message delivered through
Prefect), resolves the conflict with real git and lands. Then `samoflow down` leaves no
process behind, the PostgreSQL included (its data stays)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from uuid import UUID

import psutil
import pytest

from samoflow.prefect_api.provision import engine_command
from samoflow.serve import embedded_postgres
from samoflow.serve.local import read_up
from tests.conftest import free_port, make_repo, wait_until
from tests.support.convoys import full_scenario, start_served_convoy, writes_shared_file
from tests.support.merge_queue import fixup_steps

# A whole `samoflow up` story: minutes on 2 cores, more when the machine is shared.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

DEPLOYMENTS = {
    "samoflow-session/session",
    "samoflow-start-session/start",
    "samoflow-convoy/convoy",
    "samoflow-monitor/monitor",
    "samoflow-stall-handler/stall",
    "samoflow-send-message/send-message",
}


def tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def test_up_runs_a_session_from_a_deployment_and_down_stops_everything(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {
        **os.environ,
        "HOME": str(home),
        "PREFECT_HOME": str(home / ".prefect"),
        "SAMOFLOW_HOME": str(home / ".samoflow"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    env.pop("PREFECT_API_URL", None)
    repo = make_repo(tmp_path / "project")
    samoflow = [sys.executable, "-m", "samoflow.cli"]
    port = str(free_port())
    up = subprocess.run(
        [*samoflow, "up", "--port", port, "--repo", str(repo)],
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
    )
    state = read_up(home / ".samoflow")
    assert state is not None
    spawned = [p for started in state.processes for p in tree(started.pid)]
    data = embedded_postgres.data_dir(home / ".samoflow")
    try:
        assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
        assert f"http://127.0.0.1:{port}" in up.stdout
        postgres = [p for p in state.processes if p.role == "postgres"]
        running = embedded_postgres.running_postmaster(data)
        assert running is not None and [p.pid for p in postgres] == [running[0].pid]
        assert state.database_url == embedded_postgres.database_url(running[1])
        check = subprocess.run(
            [sys.executable, "-c", INSPECT],
            env={**env, "PREFECT_API_URL": state.api_url},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert check.returncode == 0, check.stderr[-3000:]
        names, pools, automations, block_types, command = check.stdout.strip().split("\n")
        assert set(names.split(",")) >= DEPLOYMENTS
        assert "samoflow" in pools.split(",")
        # Flow runs start Prefect's engine directly, not through its workspace supervisor.
        assert command == engine_command()
        assert automations
        assert {"samoflow-agent-config", "samoflow-slack-alerts"} <= set(block_types.split(","))

        plan = _conflicting_plan(tmp_path)
        run = subprocess.run(
            [
                *samoflow,
                "run",
                "served task",
                "--session",
                "served",
                "--repo",
                str(repo),
                "--auto-approve",
                "--agent",
                "scripted",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert run.returncode == 0 and "deployment run" in run.stdout, run.stdout + run.stderr
        run_id = run.stdout.split("deployment run ")[1].split(":")[0]
        UUID(run_id)
        start_served_convoy(samoflow, plan, repo, env)  # runs alongside the session
        history = repo / ".samoflow" / "sessions" / "served" / "_signal_history.jsonl"
        wait_until(
            lambda: history.exists() and '"outcome":"done"' in history.read_text(),
            240,
            "the worker to run the session to done",
        )
        record = repo / ".samoflow" / "sessions" / "_convoys" / "sq.json"

        def convoy_over() -> bool:
            if not record.exists():
                return False
            return json.loads(record.read_text()).get("notice") is not None  # announced

        wait_until(convoy_over, 480, "the served convoy to finish")
        members = {m["name"]: m for m in json.loads(record.read_text())["members"]}
        assert [m["state"] for m in members.values()] == ["done", "done"], members
        assert [r["verdict"] for r in members["left"]["rounds"]] == ["landed"]
        assert [r["verdict"] for r in members["right"]["rounds"]] == ["conflict", "landed"]
        assert members["right"]["runs"] == 2  # the fix-up was a run of its own
        runs = subprocess.run(
            [sys.executable, "-c", RUNS, "session-right (convoy sq)"],
            env={**env, "PREFECT_API_URL": state.api_url},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert runs.stdout.strip() == "COMPLETED,COMPLETED", runs.stdout + runs.stderr
        shared = subprocess.run(
            ["git", "show", "samoflow/convoy/sq:shared.txt"],
            cwd=repo,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert sorted(shared.splitlines()) == ["left", "right"]
    finally:
        down = subprocess.run(
            [*samoflow, "down"], env=env, capture_output=True, text=True, timeout=120
        )
    assert down.returncode == 0, down.stdout + down.stderr
    wait_until(
        lambda: not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in spawned),
        30,
        "every started process to end",
    )
    assert read_up(home / ".samoflow") is None
    assert embedded_postgres.running_postmaster(data) is None
    assert (data / "PG_VERSION").is_file()  # the next `up` serves the same database


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


RUNS = """
import sys
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName
with get_client(sync_client=True) as client:
    runs = client.read_flow_runs(
        flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[sys.argv[1]]))
    )
    print(",".join(sorted(r.state.type.value for r in runs if r.state)))
"""

INSPECT = """
from prefect.client.orchestration import get_client
with get_client(sync_client=True) as client:
    deployments = client.read_deployments()
    flows = {f.id: f.name for f in client.read_flows()}
    print(",".join(f"{flows[d.flow_id]}/{d.name}" for d in deployments))
    print(",".join(p.name for p in client.read_work_pools()))
    print(",".join(a.name for a in client.read_automations()))
    print(",".join(b.slug for b in client.read_block_types()))
    pool = client.read_work_pool("samoflow").base_job_template
    print(pool["variables"]["properties"]["command"]["default"])
"""
