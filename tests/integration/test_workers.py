"""A coordinator asks for workers in its signal: they run as its convoy, it sees the results."""

from __future__ import annotations

import json
from pathlib import Path

import git
import pytest

from samoflow.convoy.record import MemberState, read_convoy, worker_convoy_path
from samoflow.flows.session import session_flow
from samoflow.session.spec import Role, read_spec
from samoflow.session.state import Lifecycle, report_of
from samoflow.workspace.merge import MergeStatus
from tests.support.convoys import full_scenario
from tests.support.sessions import new_session

pytestmark = [pytest.mark.usefixtures("prefect_api"), pytest.mark.slow]

FIRST_SIGNAL = 'signal = { status = "continue", phase = "investigation", summary = "task stored" }'


def coordinator_scenario(workers: list[str]) -> str:
    asked = ", ".join(
        f'{{ name = "{w}", task = "build the {w} part", scenario = "full" }}' for w in workers
    )
    signal = (
        'signal = { status = "continue", phase = "investigation", summary = "split the work", '
        f"workers = [{asked}] }}"
    )
    return full_scenario().replace(FIRST_SIGNAL, signal, 1)


def test_a_coordinator_spawning_two_workers_runs_them_and_sees_their_results(repo: Path) -> None:
    coordinator = new_session(repo, coordinator_scenario(["api", "ui"]), name="lead")
    report = session_flow(str(coordinator.root))

    assert report.lifecycle is Lifecycle.DONE
    record = read_convoy(worker_convoy_path(coordinator))
    assert [m.name for m in record.members] == ["lead--api", "lead--ui"]
    assert all(m.state is MemberState.DONE and m.runs == 1 for m in record.members)
    assert all(m.merge and m.merge.status is MergeStatus.MERGED for m in record.members)
    for worker in ("api", "ui"):
        folder = coordinator.root / "workers" / worker
        spec = read_spec(folder / "_session.json")
        assert spec.role is Role.WORKER and spec.base_branch == "samoflow/lead"
        assert report_of_folder(folder) is Lifecycle.DONE
        hooks = [json.loads(x)["hook"] for x in (folder / "_logs/scripted-seen.jsonl").open()]
        assert {h["role"] for h in hooks} == {"worker"}
    merged = git.Repo(repo).git.ls_tree("-r", "--name-only", record.integration_branch)
    assert "src/greeting_lead--api.py" in merged and "src/greeting_lead--ui.py" in merged
    second_prompt = coordinator.prompt_file(2, 1).read_text()
    assert "## Your workers" in second_prompt
    assert "- lead--api: done, branch samoflow/lead--api, merged" in second_prompt
    assert "- lead--ui: done, branch samoflow/lead--ui, merged" in second_prompt
    assert "Your workers" not in coordinator.prompt_file(1, 1).read_text()


def report_of_folder(folder: Path) -> Lifecycle:
    from samoflow.session.files import SessionFiles

    return report_of(SessionFiles(folder)).lifecycle
