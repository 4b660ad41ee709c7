"""The merge queue's mechanics on real git: land verified, or roll the integration ref back."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import git
import pytest

from samoflow.agents.scripted_fixup import merge_integration
from samoflow.convoy.merge_queue import (
    Settlement,
    blocked_reason,
    current_head,
    fixup_text,
    integration_worktree,
    land,
    recover,
    settle,
)
from samoflow.convoy.record import ConvoyMember, ConvoyRecord, MemberState, refresh_member
from samoflow.convoy.rounds import MergeRound, PendingMerge, RoundVerdict, verified_label
from samoflow.project import ChecksConfig, load_config
from samoflow.session.files import SessionFiles
from samoflow.session.history import Outcome, append_entry, system_entry
from samoflow.session.reopen import block_finished, reopen_for_fixup
from samoflow.session.spec import read_spec
from samoflow.session.state import Lifecycle, load_state
from samoflow.workspace.merge import MergeStatus, branch_head
from tests.support.merge_queue import (
    RENAMED,
    USE_GREET,
    USE_WELCOME,
    checked_project,
)
from tests.support.sessions import new_session

IDENTITY = ["-c", "user.name=t", "-c", "user.email=t@t.invalid"]
CHECKS = ChecksConfig(commands=("sh check.sh",), timeout_seconds=60, max_rounds=2)
# A check that leaves an untracked file and a cache behind before it runs the real one.
LITTERING = ChecksConfig(commands=("echo out > check-output.txt && sh check.sh",), max_rounds=2)


def commit_in(worktree: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (worktree / name).write_text(text)
    subprocess.run(["git", "add", "-A"], cwd=worktree, check=True)
    subprocess.run(["git", *IDENTITY, "commit", "-qm", "change"], cwd=worktree, check=True)


def member(repo: Path, name: str, files: dict[str, str]) -> ConvoyMember:
    session = new_session(repo, name=name)
    commit_in(Path(read_spec(session.spec).working_dir), files)
    return ConvoyMember(
        name=name,
        session_dir=str(session.root),
        branch=read_spec(session.spec).branch,
        state=MemberState.DONE,
    )


def convoy(repo: Path, *members: ConvoyMember) -> ConvoyRecord:
    config = load_config(repo)
    return ConvoyRecord(
        name="q",
        repo=str(repo),
        sessions_root=str(config.sessions),
        base_branch="main",
        integration_branch="samoflow/convoy/q",
        integration_worktree=str(config.worktrees / "_convoys" / "q"),
        concurrency=1,
        members=members,
    )


def landed(record: ConvoyRecord, m: ConvoyMember, checks: ChecksConfig | None) -> MergeRound:
    integration_worktree(record)
    result, merge_round = land(record, m, checks, current_head(record))
    kept = result.status in (MergeStatus.MERGED, MergeStatus.ALREADY_MERGED)
    assert kept == (merge_round.verdict is RoundVerdict.LANDED)
    return merge_round


def assert_clean(record: ConvoyRecord) -> None:
    tree = git.Repo(record.integration_worktree)
    assert not tree.is_dirty(untracked_files=True), tree.git.status()
    assert not (Path(record.integration_worktree) / "check-output.txt").exists()


@pytest.fixture()
def project(repo: Path) -> Path:
    return checked_project(repo)


def test_a_red_check_moves_the_integration_ref_back_to_the_exact_old_commit(
    project: Path,
) -> None:
    a = member(project, "a", {"lib.py": RENAMED, "use_a.py": USE_WELCOME})
    b = member(project, "b", {"use_b.py": USE_GREET})
    record = convoy(project, a, b)
    first = landed(record, a, LITTERING)
    assert first.verdict is RoundVerdict.LANDED and first.verified is True
    assert_clean(record)  # green: what the check wrote is gone too
    before = branch_head(project, record.integration_branch)
    b_head = branch_head(project, b.branch)
    red = landed(record, b, LITTERING)
    assert red.verdict is RoundVerdict.RED and red.check == LITTERING.commands[0]
    assert "cannot import name 'greet'" in (red.tail or "")
    assert red.commit is not None and red.commit != before  # the merge that was undone
    assert branch_head(project, record.integration_branch) == before
    assert git.Repo(record.integration_worktree).head.commit.hexsha == before
    assert_clean(record)
    assert branch_head(project, b.branch) == b_head  # the member's branch is never touched
    main = git.Repo(project)
    assert main.active_branch.name == "main"
    assert not main.is_dirty(untracked_files=True), main.git.status()


def test_a_conflict_leaves_the_ref_and_a_clean_worktree(project: Path) -> None:
    a = member(project, "a", {"shared.txt": "from a\n"})
    c = member(project, "c", {"shared.txt": "from c\n"})
    record = convoy(project, a, c)
    assert landed(record, a, None).verified is None  # no checks: landed, unverified
    before = branch_head(project, record.integration_branch)
    clash = landed(record, c, CHECKS)
    assert clash.verdict is RoundVerdict.CONFLICT and clash.files == ("shared.txt",)
    assert branch_head(project, record.integration_branch) == before
    assert_clean(record)
    assert verified_label((clash,)) == "conflict round 1"


def test_a_merge_a_crash_cut_off_mid_check_is_rolled_back_on_recovery(project: Path) -> None:
    a = member(project, "a", {"use_a.py": "print('a')\n"})
    record = convoy(project, a)
    tree = integration_worktree(record)
    old = current_head(record)
    subprocess.run(
        ["git", *IDENTITY, "merge", "--no-ff", "-qm", "m", a.branch], cwd=tree, check=True
    )
    (tree / "half-written-check-output.txt").write_text("x")
    recover(record, PendingMerge(member="a", old_head=old))
    assert branch_head(project, record.integration_branch) == old
    assert_clean(record)


def test_failed_rounds_send_back_until_max_rounds_then_block(project: Path) -> None:
    red = MergeRound(number=1, verdict=RoundVerdict.RED, check="sh check.sh", tail="boom")
    m = ConvoyMember(name="b", session_dir="/s/b", branch="samoflow/b", rounds=(red,))
    assert settle(m, max_rounds=2) is Settlement.FIX_UP
    again = m.model_copy(update={"rounds": (red, red.model_copy(update={"number": 2}))})
    assert settle(again, max_rounds=2) is Settlement.BLOCKED
    assert blocked_reason(again).startswith("merge: check `sh check.sh` red after 2 round(s)")
    ok = MergeRound(number=3, verdict=RoundVerdict.LANDED, verified=True)
    assert settle(again.model_copy(update={"rounds": (red, ok)}), 2) is Settlement.LANDED
    text = fixup_text(convoy(project, m), m, max_rounds=2)
    assert "git merge samoflow/convoy/q" in text and "boom" in text and "round 1 of 2" in text


def done_session(repo: Path, name: str) -> SessionFiles:
    files = new_session(repo, name=name)
    append_entry(files.history, system_entry(7, "done", outcome=Outcome.DONE))
    assert load_state(files).lifecycle is Lifecycle.DONE
    return files


def test_a_reopened_member_is_pending_again_and_is_merged_anew(project: Path) -> None:
    files = done_session(project, "b")
    assert reopen_for_fixup(files, "merge queue round 1: conflict; sent back")
    state = load_state(files)
    assert state.lifecycle is Lifecycle.ACTIVE and state.phase.value == "testing"
    conflicted = MergeRound(number=1, verdict=RoundVerdict.CONFLICT, files=("x",))
    stale = ConvoyMember(  # what a convoy that crashed right after reopening had recorded
        name="b",
        session_dir=str(files.root),
        branch="samoflow/b",
        state=MemberState.DONE,
        rounds=(conflicted,),
    )
    refreshed = refresh_member(stale)
    assert refreshed.state is MemberState.PENDING and refreshed.merge is None
    assert refreshed.rounds == (conflicted,)


def test_a_member_out_of_rounds_is_blocked_with_the_reason(project: Path) -> None:
    files = done_session(project, "b")
    block_finished(files, "merge: conflict in shared.txt after 2 round(s)")
    state = load_state(files)
    assert state.lifecycle is Lifecycle.BLOCKED and "shared.txt" in (state.reason or "")
    assert not reopen_for_fixup(files, "too late")  # only a done session is reopened


def test_the_scripted_agent_resolves_a_conflict_by_union_with_real_git(project: Path) -> None:
    a = member(project, "a", {"shared.txt": "from a\n"})
    c = member(project, "c", {"shared.txt": "from c\n"})
    record = convoy(project, a, c)
    landed(record, a, None)
    c_tree = Path(read_spec(SessionFiles(Path(c.session_dir)).spec).working_dir)
    merge_integration(c_tree, record.integration_branch, "union", IDENTITY)
    assert (c_tree / "shared.txt").read_text() == "from c\nfrom a\n"
    repo = git.Repo(c_tree)
    assert not repo.is_dirty(untracked_files=True) and len(repo.head.commit.parents) == 2
    # Its branch now merges into the integration branch cleanly.
    assert landed(record, c, None).verdict is RoundVerdict.LANDED
    assert json.loads(json.dumps(verified_label(()))) == "-"


def test_a_branch_the_integration_branch_already_has_lands_as_already_merged(
    project: Path,
) -> None:
    a = member(project, "a", {"use_a.py": "print('a')\n"})
    record = convoy(project, a)
    first = landed(record, a, CHECKS)
    head = branch_head(project, record.integration_branch)
    again = landed(record, a.model_copy(update={"rounds": (first,)}), CHECKS)
    assert again.verdict is RoundVerdict.LANDED and again.number == 2
    assert verified_label((first, again)) == "already merged"
    assert branch_head(project, record.integration_branch) == head


def test_a_broken_project_config_lands_nothing_and_says_why(project: Path) -> None:
    from samoflow.convoy.record import write_convoy
    from samoflow.flows.merge_queue import merge_finished

    a = member(project, "a", {"use_a.py": "print('a')\n"})
    path = project.parent / "q.json"
    write_convoy(path, convoy(project, a))
    (project / ".samoflow.toml").write_text("[checks]\ncommands = 3\n")
    (landed_record,) = merge_finished(path).members
    assert landed_record.merge is not None and landed_record.merge.status is MergeStatus.FAILED
    assert "config is unusable" in (landed_record.merge.detail or "")
    assert landed_record.rounds[-1].verdict is RoundVerdict.FAILED
    assert not git.Repo(project).git.branch("--list", "samoflow/convoy/q")  # nothing merged
