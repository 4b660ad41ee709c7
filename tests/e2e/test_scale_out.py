"""Scale-out on Prefect's own engine: a server on PostgreSQL, two workers with their own
sessions roots, six sessions dispatched as deployment runs, the scheduled monitor."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import psutil
import pytest

from samoflow.served import read_up
from tests.conftest import free_port, make_repo, wait_until

pytestmark = pytest.mark.slow

PSQL = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-qtAc"]


def postgres_available() -> bool:
    try:
        return subprocess.run([*PSQL, "select 1"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


QUERY = """
import json, sys
from prefect.client.orchestration import get_client
with get_client(sync_client=True) as client:
    flows = {f.id: f.name for f in client.read_flows()}
    runs = client.read_flow_runs(limit=200)
    print(json.dumps({
        "runs": [[flows[r.flow_id], r.name, r.state_type.value if r.state_type else None]
                 for r in runs],
        "blocks": [b.slug for b in client.read_block_types()],
        "automations": [a.name for a in client.read_automations()],
        "limits": [l.name for l in client.read_global_concurrency_limits(limit=50)],
    }))
"""

START = """
import sys
from prefect.deployments import run_deployment
for name in sys.argv[2:]:
    run_deployment("samoflow-start-session/start", timeout=0, parameters={
        "repo": sys.argv[1], "name": name, "task": f"task {name}",
        "scenario": sys.argv[1] + "/../slow.toml", "auto_approve": True})
"""

SLOW = """
repeat_last = false
[[steps]]
overview = "init"
sleep = 3
signal = { status = "continue", phase = "investigation" }
[[steps]]
sleep = 3
write = { "work-{session}.txt" = "done by {session}" }
commit = "work of {session}"
signal = { status = "blocked", reason = "finished its share" }
"""


def query(env: dict[str, str]) -> dict[str, Any]:
    import json

    out = subprocess.run(
        [sys.executable, "-c", QUERY], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return dict(json.loads(out.stdout))


@pytest.mark.timeout(600)
@pytest.mark.skipif(not postgres_available(), reason="no PostgreSQL on 127.0.0.1:5432")
def test_two_workers_on_a_postgres_server_share_the_sessions(tmp_path: Path) -> None:
    database = f"samoflow_{uuid.uuid4().hex[:8]}"
    subprocess.run([*PSQL, f"create database {database}"], check=True, timeout=30)
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
    (tmp_path / "slow.toml").write_text(SLOW)
    samoflow = [sys.executable, "-m", "samoflow.cli"]
    url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{database}"
    up = subprocess.run(
        [
            *samoflow,
            "up",
            "--port",
            str(free_port()),
            "--repo",
            str(repo),
            "--workers",
            "2",
            "--own-roots",
            "--worker-limit",
            "3",
            "--database-url",
            url,
            "--max-agents",
            "4",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
    )
    state = read_up(home / ".samoflow")
    assert state is not None
    spawned = [p for s in state.processes for p in psutil.Process(s.pid).children(recursive=True)]
    api = {**env, "PREFECT_API_URL": state.api_url}
    names = [f"member-{n}" for n in range(1, 7)]
    try:
        assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
        subprocess.run(
            [sys.executable, "-c", START, str(repo), *names], env=api, check=True, timeout=120
        )
        roots = [home / ".samoflow" / f"samoflow-worker-{n}" / "sessions" for n in (1, 2)]

        def finished() -> list[str]:
            return [
                h.parent.name
                for r in roots
                for h in r.glob("*/_signal_history.jsonl")
                if "finished its share" in h.read_text()
            ]

        wait_until(lambda: sorted(finished()) == names, 300, "six sessions on two workers")
        assert all(list(root.glob("member-*")) for root in roots)  # both workers ran members

        def starts_completed() -> bool:  # the flow run ends a moment after its history
            runs = [r for r in query(api)["runs"] if r[0] == "samoflow-start-session"]
            return len(runs) == 6 and {r[2] for r in runs} == {"COMPLETED"}

        wait_until(starts_completed, 60, "six completed start runs")
        found = query(api)
        wait_until(
            lambda: any(
                r[0] == "samoflow-monitor" and r[2] == "COMPLETED" for r in query(api)["runs"]
            ),
            150,
            "a scheduled monitor run",
        )
        assert {"samoflow-agent-config", "samoflow-slack-alerts"} <= set(found["blocks"])
        assert found["automations"] and "samoflow-agents" in found["limits"]
        branches = subprocess.run(
            ["git", "for-each-ref", "--format=%(refname:short)", "refs/heads/samoflow/"],
            cwd=repo,
            capture_output=True,
            text=True,
        ).stdout.split()
        assert len(branches) == 6
    finally:
        subprocess.run([*samoflow, "down"], env=env, capture_output=True, timeout=120)
        subprocess.run([*PSQL, f"drop database if exists {database} with (force)"], timeout=30)
    wait_until(
        lambda: not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in spawned),
        30,
        "every started process to end",
    )
