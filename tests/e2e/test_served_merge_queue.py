"""The merge queue served: `samoflow up`, a convoy run from its deployment, members as runs of
the session deployment; a conflicting member is sent back, runs again as a NEW deployment run
(picked up by the worker, its `merge_fixup` message delivered through Prefect), resolves the
conflict with real git and lands."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from samoflow.serve.local import read_up
from tests.conftest import free_port, make_repo, wait_until
from tests.support.convoys import full_scenario, start_served_convoy, writes_shared_file
from tests.support.merge_queue import fixup_steps

pytestmark = pytest.mark.slow

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


def test_a_served_convoy_sends_a_conflicting_member_back_as_a_new_deployment_run(
    tmp_path: Path,
) -> None:
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
    union = fixup_steps(rule="union")
    scenarios = {
        "left": full_scenario(first_step_extra=writes_shared_file("left\n")) + union,
        "right": full_scenario(first_step_extra=writes_shared_file("right\n")) + union,
    }
    lines = ['name = "sq"', "concurrency = 1"]  # left finishes first: right conflicts
    for name, text in scenarios.items():
        (tmp_path / f"{name}.toml").write_text(text)
        lines += ["[[sessions]]", f'name = "{name}"', f'task = "task {name}"']
        lines += [f'scenario = "{name}.toml"', "auto_approve = true"]
    plan = tmp_path / "sq.toml"
    plan.write_text("\n".join(lines) + "\n")
    up = subprocess.run(
        [*samoflow, "up", "--port", str(free_port()), "--repo", str(repo)],
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
    )
    try:
        assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
        state = read_up(home / ".samoflow")
        assert state is not None
        start_served_convoy(samoflow, plan, repo, env)
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
