"""`samoflow up` on a fresh home: server, pool, deployments, blocks, automations, a worker
that runs a session from a deployment run; then `samoflow down` leaves no process behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from uuid import UUID

import psutil
import pytest

from samoflow.serve.local import read_up
from tests.conftest import free_port, make_repo, wait_until
from tests.support.convoys import start_served_convoy

pytestmark = pytest.mark.slow

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
    try:
        assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
        assert f"http://127.0.0.1:{port}" in up.stdout
        check = subprocess.run(
            [sys.executable, "-c", INSPECT],
            env={**env, "PREFECT_API_URL": state.api_url},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert check.returncode == 0, check.stderr[-3000:]
        names, pools, automations, block_types = check.stdout.strip().split("\n")
        assert set(names.split(",")) >= DEPLOYMENTS
        assert "samoflow" in pools.split(",")
        assert automations
        assert {"samoflow-agent-config", "samoflow-slack-alerts"} <= set(block_types.split(","))

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
        history = repo / ".samoflow" / "sessions" / "served" / "_signal_history.jsonl"
        wait_until(
            lambda: history.exists() and '"outcome":"done"' in history.read_text(),
            180,
            "the worker to run the session to done",
        )
        UUID(run_id)

        plan = tmp_path / "served-plan.toml"
        plan.write_text(
            'name = "served"\n'
            + "".join(
                f'[[sessions]]\nname = "{n}"\ntask = "task {n}"\nauto_approve = true\n'
                for n in ("one", "two")
            )
        )
        start_served_convoy(samoflow, plan, repo, env)
        record = repo / ".samoflow" / "sessions" / "_convoys" / "served.json"

        def convoy_done() -> bool:
            if not record.exists():
                return False
            members = json.loads(record.read_text())["members"]
            return [m["state"] for m in members] == ["done", "done"]

        wait_until(convoy_done, 240, "the served convoy to finish")
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


INSPECT = """
from prefect.client.orchestration import get_client
with get_client(sync_client=True) as client:
    deployments = client.read_deployments()
    flows = {f.id: f.name for f in client.read_flows()}
    print(",".join(f"{flows[d.flow_id]}/{d.name}" for d in deployments))
    print(",".join(p.name for p in client.read_work_pools()))
    print(",".join(a.name for a in client.read_automations()))
    print(",".join(b.slug for b in client.read_block_types()))
"""
