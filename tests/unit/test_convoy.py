"""Plan files and convoy records: parsed at the edge, finished members never run again."""

from __future__ import annotations

from pathlib import Path

import pytest

from samoflow.clock import utcnow
from samoflow.convoy.plan import load_plan
from samoflow.convoy.record import (
    CompletionNotice,
    ConvoyError,
    ConvoyMember,
    ConvoyRecord,
    MemberState,
    members_to_merge,
    members_to_run,
)
from samoflow.convoy.setup import open_plan_convoy
from samoflow.project import load_config
from samoflow.session.spec import read_spec
from samoflow.workspace.merge import MergeResult, MergeStatus

PLAN = """
name = "auth"
base_branch = "main"
concurrency = 2
[[sessions]]
name = "core"
task = "JWT core"
scenario = "core.toml"
auto_approve = true
[[sessions]]
name = "ui"
task = "login form"
dive = "forms"
"""


def test_a_plan_is_parsed_with_scenarios_relative_to_it(tmp_path: Path) -> None:
    (tmp_path / "core.toml").write_text("[[steps]]\n")
    (tmp_path / "plan.toml").write_text(PLAN)
    plan = load_plan(tmp_path / "plan.toml")
    assert (plan.name, plan.concurrency, plan.notify_on_complete) == ("auth", 2, True)
    assert plan.sessions[0].scenario == str(tmp_path / "core.toml")
    assert plan.sessions[1].scenario is None and plan.sessions[1].dive == "forms"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('name = "auth"', 'name = "../auth"'), "looks like a path"),
        (('name = "ui"', 'name = "core"'), "appear twice: core"),
        (('name = "ui"', 'name = "a--b"'), "keeps for workers"),
        (("concurrency = 2", "concurrency = 0"), "concurrency"),
        (('dive = "forms"', 'dive = "forms"\ncolour = "red"'), "colour"),
    ],
)
def test_a_bad_plan_says_what_is_wrong(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    (tmp_path / "plan.toml").write_text(PLAN.replace(*change))
    with pytest.raises(ConvoyError, match=message):
        load_plan(tmp_path / "plan.toml")


def record_of(*members: ConvoyMember, notice: CompletionNotice | None = None) -> ConvoyRecord:
    return ConvoyRecord(
        name="c",
        repo="/r",
        sessions_root="/r/s",
        base_branch="main",
        integration_branch="samoflow/convoy/c",
        integration_worktree="/w",
        concurrency=2,
        members=members,
        notice=notice,
    )


def m(name: str, state: MemberState, merge: MergeStatus | None = None) -> ConvoyMember:
    result = MergeResult(status=merge, branch=name) if merge else None
    return ConvoyMember(name=name, session_dir=f"/s/{name}", branch=name, state=state, merge=result)


def test_only_unfinished_members_run_and_only_unmerged_done_ones_merge() -> None:
    record = record_of(
        m("done", MemberState.DONE, MergeStatus.MERGED),
        m("conflict", MemberState.DONE, MergeStatus.CONFLICT),
        m("unmerged", MemberState.DONE),
        m("blocked", MemberState.BLOCKED),
        m("running", MemberState.RUNNING),
        m("failed", MemberState.FAILED),
        m("waiting", MemberState.WAITING),
    )
    assert [x.name for x in members_to_run(record)] == ["running", "failed", "waiting"]
    assert [x.name for x in members_to_merge(record)] == ["unmerged"]
    assert not record.complete and record.done_of_total() == (5, 7)


def test_an_announced_convoy_runs_nothing_again() -> None:
    notice = CompletionNotice(key="k", message_hash="h", queued_at=utcnow())
    assert members_to_run(record_of(m("failed", MemberState.FAILED), notice=notice)) == []


def test_opening_a_plan_twice_reuses_its_sessions_and_its_id(tmp_path: Path, repo: Path) -> None:
    (tmp_path / "plan.toml").write_text(PLAN.replace('scenario = "core.toml"\n', ""))
    plan = load_plan(tmp_path / "plan.toml")
    config = load_config(repo)
    path, first = open_plan_convoy(plan, config, 4)
    _, second = open_plan_convoy(plan, config, 4)
    assert path == config.sessions / "_convoys" / "auth.json"
    assert second.id == first.id and [x.name for x in second.members] == ["core", "ui"]
    spec = read_spec(config.sessions / "core" / "_session.json")
    assert (spec.convoy, spec.branch, spec.auto_approve_gates) == ("auth", "samoflow/core", True)
    assert first.integration_branch == "samoflow/convoy/auth" and first.concurrency == 2


def test_a_session_of_another_convoy_is_refused(tmp_path: Path, repo: Path) -> None:
    (tmp_path / "plan.toml").write_text(PLAN)
    (tmp_path / "core.toml").write_text('[[steps]]\nsignal = { status = "done" }\n')
    config = load_config(repo)
    open_plan_convoy(load_plan(tmp_path / "plan.toml"), config, 4)
    (tmp_path / "other.toml").write_text(PLAN.replace('name = "auth"', 'name = "other"'))
    with pytest.raises(ConvoyError, match="belongs to convoy auth"):
        open_plan_convoy(load_plan(tmp_path / "other.toml"), config, 4)
