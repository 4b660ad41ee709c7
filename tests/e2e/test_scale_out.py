"""Scale-out on Prefect's own engine: a server on PostgreSQL, two workers with their own
sessions roots, one convoy of six sessions whose members run on both workers, the
scheduled monitor; everything checked through the Prefect client."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import psutil
import pytest
from prefect.events.filters import EventFilter, EventNameFilter

from samoflow.serve.local import read_up
from tests.conftest import free_port, make_repo, wait_until
from tests.support.convoys import full_scenario, start_served_convoy, write_plan
from tests.support.prefect_client import client_of

# Two workers and a convoy on a PostgreSQL server: minutes on 2 cores, more when shared.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

PSQL = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-qtAc"]


def postgres_available() -> bool:
    try:
        return subprocess.run([*PSQL, "select 1"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


# Reads of the whole server (runs, the workers' submissions, blocks...): one a second at most.
POLL_SECONDS = 1.0


def query(api_url: str) -> dict[str, Any]:
    with client_of(api_url) as client:
        flows = {f.id: f.name for f in client.read_flows()}
        runs = client.read_flow_runs(limit=200)
        page = client.read_events(
            EventFilter(event=EventNameFilter(name=["prefect.worker.submitted-flow-run"])),
            limit=50,
        )
        submitted = list(page.events) if page else []
        while page and page.next_page:
            page = client.read_events_page(page.next_page)
            submitted += page.events if page else []
        return {
            "runs": [
                {
                    "flow": flows[r.flow_id],
                    "name": r.name,
                    "id": str(r.id),
                    "tags": r.tags,
                    "state": r.state_type.value if r.state_type else None,
                }
                for r in runs
            ],
            "ran_by": {
                related.id.removeprefix("prefect.flow-run."): e.resource.name
                for e in submitted
                for related in e.related
                if related.role == "flow-run"
            },
            "blocks": [b.slug for b in client.read_block_types()],
            "automations": [a.name for a in client.read_automations()],
            "limits": [limit.name for limit in client.read_global_concurrency_limits(limit=50)],
        }


def runs_of(found: dict[str, Any], flow: str) -> list[dict[str, Any]]:
    return [r for r in found["runs"] if r["flow"] == flow]


def iterations_done(repo: Path, run_name: str) -> int:
    """Iteration rows in the history of a member named by its run ("session-<name> (...)")."""
    name = run_name.removeprefix("session-").split(" (")[0]
    history = repo / ".samoflow/sessions" / name / "_signal_history.jsonl"
    if not history.exists():
        return 0
    rows = [json.loads(line) for line in history.read_text().splitlines() if line.strip()]
    return sum(row.get("kind") == "iteration" for row in rows)


def kill_flow_run_process(run_id: str) -> bool:
    """SIGKILL the process a worker started for the flow run (its env names the run)."""
    for process in psutil.process_iter(["cmdline"]):
        try:
            if "prefect.engine" in " ".join(process.info["cmdline"] or []) and (
                process.environ().get("PREFECT__FLOW_RUN_ID") == run_id
            ):
                process.kill()
                return True
        except psutil.Error:
            continue
    return False  # it ended before it could be killed


@pytest.mark.timeout(600)
@pytest.mark.skipif(not postgres_available(), reason="no PostgreSQL on 127.0.0.1:5432")
def test_one_convoy_spreads_over_two_workers_on_a_postgres_server(tmp_path: Path) -> None:
    database = f"samoflow_{uuid.uuid4().hex[:8]}"
    subprocess.run([*PSQL, f"create database {database}"], check=True, timeout=30)
    home = tmp_path / "home"
    env = {
        **os.environ,
        "HOME": str(home),
        "PREFECT_HOME": str(home / ".prefect"),
        "SAMOFLOW_HOME": str(home / ".samoflow"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        # The scheduled monitor sweeps the members too: leave a crashed one to its convoy
        # (the default 30 s is ample; a loaded CI machine starts runs slower).
        "SAMOFLOW_CONVOY_MEMBER_GRACE_SECONDS": "90",
    }
    env.pop("PREFECT_API_URL", None)
    repo = make_repo(tmp_path / "project")
    names = [f"member-{n}" for n in range(1, 7)]
    plan = write_plan(
        tmp_path, "spread", {n: full_scenario(sleep=1.0) for n in names}, concurrency=6
    )
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
    api = state.api_url
    try:
        assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
        start_served_convoy(samoflow, plan, repo, env)

        def members_of(found: dict[str, Any]) -> list[dict[str, Any]]:
            runs = runs_of(found, "samoflow-session")
            return [r for r in runs if "convoy:spread" in r["tags"]]

        # A member's process dies: the convoy starts that run again. Then the convoy's own
        # process dies while members run on the workers: a new convoy run must wait for
        # those runs (and that restart), not start any of them again.
        # The one killed has work left: a run still Running after its session's last
        # iteration (delivering, publishing) ends without a restart when killed.
        def with_work_left() -> list[dict[str, Any]]:
            return [
                r
                for r in members_of(query(api))
                if r["state"] == "RUNNING" and iterations_done(repo, r["name"]) <= 4
            ]

        wait_until(
            lambda: bool(with_work_left()), 180, "a member running with work left", POLL_SECONDS
        )
        killed = next(r for r in with_work_left() if kill_flow_run_process(r["id"]))
        # Dead now, so its files hold still until the convoy starts it again.
        assert iterations_done(repo, killed["name"]) < 8, "killed after its last iteration"
        wait_until(
            lambda: any(
                r["id"] == killed["id"] and r["state"] == "CRASHED" for r in members_of(query(api))
            ),
            240,  # the worker notices the dead process; on a loaded machine that takes a while
            "the killed member run to be marked crashed",
            POLL_SECONDS,
        )
        (first,) = runs_of(query(api), "samoflow-convoy")
        assert kill_flow_run_process(first["id"])
        wait_until(
            lambda: runs_of(query(api), "samoflow-convoy")[0]["state"] == "CRASHED",
            240,
            "the killed convoy run to be marked crashed",
            POLL_SECONDS,
        )
        start_served_convoy(samoflow, plan, repo, env)  # the user runs the same command again

        def convoy_completed() -> bool:
            states = sorted(r["state"] for r in runs_of(query(api), "samoflow-convoy"))
            assert "FAILED" not in states and states.count("CRASHED") == 1, states
            return states == ["COMPLETED", "CRASHED"]

        wait_until(convoy_completed, 400, "the second convoy run to complete", POLL_SECONDS)
        found = query(api)
        members = members_of(found)
        again = killed["name"]  # the one crashed run was started once more, by the convoy
        assert sorted(r["name"] for r in members) == sorted(
            [f"session-{n} (convoy spread)" for n in names] + [again]
        )
        assert sorted((r["name"], r["state"]) for r in members if r["name"] == again) == [
            (again, "COMPLETED"),
            (again, "CRASHED"),
        ]
        assert [r["state"] for r in members if r["name"] != again] == ["COMPLETED"] * 5
        finished = [r for r in members if r["state"] == "COMPLETED"]
        assert all("role:coordinator" in r["tags"] for r in finished)
        workers = {found["ran_by"].get(r["id"]) for r in members}
        assert workers == {"samoflow-worker-1", "samoflow-worker-2"}  # one convoy, both workers

        # Prepared by `samoflow convoy` in the project, whichever worker ran the convoy.
        record = json.loads((repo / ".samoflow/sessions/_convoys/spread.json").read_text())
        assert [m["state"] for m in record["members"]] == ["done"] * 6
        assert [m["merge"]["status"] for m in record["members"]] == ["merged"] * 6
        assert [m["runs"] for m in record["members"]] == [1] * 6
        # The runs above prove exactly one restart of exactly the killed member. Who is
        # credited: the convoy's record, the monitor's history row, or nobody when the first
        # convoy started the restart and died before recording it and the restart finished
        # the session before the second convoy looked (a known gap of the count, not of runs).
        by_convoy = [m["name"] for m in record["members"] if m["restarts"]]
        by_monitor = [
            n for n in names
            if "restarted by monitor" in (repo / ".samoflow/sessions" / n /
                                          "_signal_history.jsonl").read_text()
        ]
        restarted = by_convoy + by_monitor
        assert [f"session-{n} (convoy spread)" for n in restarted] in ([again], []), restarted
        assert record["notice"] is not None  # one completion notice, by the second run

        wait_until(
            lambda: any(r["state"] == "COMPLETED" for r in runs_of(query(api), "samoflow-monitor")),
            150,
            "a scheduled monitor run",
            POLL_SECONDS,
        )
        assert {"samoflow-agent-config", "samoflow-slack-alerts"} <= set(found["blocks"])
        assert found["automations"] and "samoflow-agents" in found["limits"]
    finally:
        subprocess.run([*samoflow, "down"], env=env, capture_output=True, timeout=120)
        subprocess.run([*PSQL, f"drop database if exists {database} with (force)"], timeout=30)
    wait_until(
        lambda: not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in spawned),
        30,
        "every started process to end",
    )
