"""Convoys end to end: scripted agents, real git worktrees, a real Prefect API, fake Slack."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import git
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName

from samoflow.convoy.record import ConvoyError, MemberState, read_convoy
from samoflow.convoy.rounds import RoundVerdict
from samoflow.prefect_api.artifacts import progress_key as session_progress_key
from samoflow.settings import get_settings
from samoflow.tasks.convoy import progress_key, table_key
from samoflow.workspace.merge import MergeStatus
from tests.support.convoys import full_scenario, run_plan, use_slack, write_plan, writes_shared_file
from tests.support.merge_queue import fixup_steps
from tests.support.slack_capture import slack_capture

pytestmark = [pytest.mark.usefixtures("prefect_api"), pytest.mark.slow]


def completion_messages(texts: list[str], convoy: str) -> list[str]:
    return [t for t in texts if f"convoy {convoy} finished" in t]


def test_three_member_convoy_finishes_with_three_branches_merged(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = write_plan(repo.parent, "trio", {n: full_scenario() for n in ("alpha", "beta", "gamma")})
    with slack_capture() as slack:
        use_slack(slack.url, monkeypatch)
        record = run_plan(plan, repo)
    assert [m.state for m in record.members] == [MemberState.DONE] * 3
    assert [m.merge.status for m in record.members if m.merge] == [MergeStatus.MERGED] * 3
    integration = git.Repo(repo).commit("samoflow/convoy/trio")
    files = {p for p in integration.tree.traverse() if p.type == "blob"}  # type: ignore[union-attr]
    names = {p.path for p in files}  # type: ignore[union-attr]
    assert {f"src/greeting_{n}.py" for n in ("alpha", "beta", "gamma")} <= names
    assert git.Repo(repo).active_branch.name == "main"
    assert not git.Repo(repo).is_dirty(untracked_files=True)
    (message,) = completion_messages(slack.texts(), "trio")
    assert all(n in message for n in ("alpha", "beta", "gamma"))
    assert record.notice is not None and record.notice.sent_at is not None
    assert_ui_shows_the_convoy("trio", ["alpha", "beta", "gamma"])


def assert_ui_shows_the_convoy(name: str, members: list[str]) -> None:
    """Progress and table artifacts, and the sessions as subflows of the convoy run."""
    with get_client(sync_client=True) as client:
        by_key = {a.key: a for a in client.read_latest_artifacts()}
        progress = by_key[progress_key(name)]
        table = by_key[table_key(name)].data
        rows = json.loads(table) if isinstance(table, str) else table
        names = [f"convoy-{name}", *(f"session-{m} (convoy {name})" for m in members)]
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=names))
        )
    assert float(progress.data) == 100.0  # type: ignore[arg-type]
    for member in members:  # the members' own cards went out behind them: settled by now
        card = by_key[session_progress_key(member)]
        assert "done" in (card.description or ""), (member, card.description)
    assert sorted(r["member"] for r in rows) == members
    assert {r["state"] for r in rows} == {"done"} and all(r["branch"] for r in rows)
    parent = next(r for r in runs if r.name == f"convoy-{name}")
    children = [r for r in runs if r.name != f"convoy-{name}"]
    assert len(children) == len(members) and all(r.parent_task_run_id for r in children)
    assert parent.state is not None and parent.state.is_completed()
    with get_client(sync_client=True) as client:  # each nested under a task run of the convoy
        placeholders = [client.read_task_run(r.parent_task_run_id) for r in children]
    assert {p.flow_run_id for p in placeholders} == {parent.id}
    assert sorted(p.name for p in placeholders) == sorted(f"session-{m}" for m in members)
    # Prefect's server keeps a subflow's placeholder in its run's state: all ended Completed.
    assert all(p.state is not None and p.state.is_completed() for p in placeholders)


def test_a_planted_conflict_is_sent_back_resolved_and_lands_with_the_others(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    union = fixup_steps(rule="union")  # no checks configured: conflicts are still fixed up
    plan = write_plan(
        repo.parent,
        "clash",
        {
            "left": full_scenario(first_step_extra=writes_shared_file("left\n")) + union,
            "right": full_scenario(first_step_extra=writes_shared_file("right\n")) + union,
            "calm": full_scenario(),
        },
    )
    with slack_capture() as slack:
        use_slack(slack.url, monkeypatch)
        record = run_plan(plan, repo)
    members = {m.name: m for m in record.members}
    assert all(m.state is MemberState.DONE for m in record.members)
    assert all(m.merge and m.merge.status is MergeStatus.MERGED for m in record.members)
    loser = next(n for n in ("left", "right") if len(members[n].rounds) == 2)
    first, second = members[loser].rounds
    assert first.verdict is RoundVerdict.CONFLICT and first.files == ("shared.txt",)
    assert second.verdict is RoundVerdict.LANDED and second.verified is None  # unverified
    main = git.Repo(repo)
    integration = git.Repo(repo / ".samoflow/worktrees/_convoys/clash")
    assert not integration.is_dirty(untracked_files=True)  # the failed merge left nothing
    tree = main.git.ls_tree("-r", "--name-only", "samoflow/convoy/clash")
    assert "src/greeting_calm.py" in tree
    shared = main.git.show("samoflow/convoy/clash:shared.txt").splitlines()
    assert sorted(shared) == ["left", "right"]  # the loser's agent kept both sides
    (message,) = completion_messages(slack.texts(), "clash")
    assert f"{loser} round 1: conflict in shared.txt" in message
    assert f"{loser} round 2: landed, unverified" in message
    title = message.splitlines()[0]
    assert title.startswith("✅ samoflow convoy clash finished")  # resolved: it all landed
    assert "1 sent back by the merge queue" in title
    listed = subprocess.run(
        [sys.executable, "-m", "samoflow.cli", "convoys", "--repo", str(repo)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "300"},
    )
    assert listed.returncode == 0, listed.stdout + listed.stderr
    row = next(line for line in listed.stdout.splitlines() if "clash" in line)
    assert "not clean" not in row and "3 merged" in row and "3 unverified" in row


def test_slack_answering_500_then_200_delivers_the_message_once(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = write_plan(repo.parent, "flaky", {"solo": full_scenario()})
    with slack_capture(statuses=[500, 200]) as slack:
        use_slack(slack.url, monkeypatch)
        record = run_plan(plan, repo)
    assert len(completion_messages([str(p.get("text")) for p in slack.posts], "flaky")) == 2
    assert len(completion_messages(slack.texts(), "flaky")) == 1
    assert record.notice is not None and record.notice.sent_at is not None


def test_slack_down_never_fails_the_convoy_and_the_next_run_delivers_once(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = write_plan(repo.parent, "down", {"solo": full_scenario()})
    with slack_capture(statuses=[500, 500, 500]) as slack:
        use_slack(slack.url, monkeypatch)
        first = run_plan(plan, repo)
        assert first.members[0].state is MemberState.DONE
        assert first.notice is not None and first.notice.sent_at is None  # queued, not lost
        assert slack.texts() == [] and len(slack.posts) == 3  # one try + two retries
        second = run_plan(plan, repo)
        third = run_plan(plan, repo)
    assert len(completion_messages(slack.texts(), "down")) == 1
    assert second.notice is not None and second.notice.sent_at is not None
    assert third.notice == second.notice and third.members[0].runs == 1
    assert "secret-webhook-token" not in capsys.readouterr().out


def test_dispatch_to_a_missing_deployment_fails_before_any_member_starts(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SAMOFLOW_CONVOY_DISPATCH", "deployment")
    monkeypatch.setenv("SAMOFLOW_CONVOY_MEMBER_DEPLOYMENT", "samoflow-session/not-deployed")
    get_settings.cache_clear()
    plan = write_plan(repo.parent, "undeployed", {"solo": full_scenario()})
    with pytest.raises(ConvoyError, match="'samoflow-session/not-deployed' does not exist"):
        run_plan(plan, repo)
    record = read_convoy(repo / ".samoflow" / "sessions" / "_convoys" / "undeployed.json")
    (member,) = record.members
    assert (member.state, member.runs) == (MemberState.PENDING, 0)  # recorded, not started
