"""The convoy merge queue end to end: scripted agents doing real git, a real check command,
the tests' Prefect API (its global concurrency limit is the lock), fake Slack."""

from __future__ import annotations

import contextvars
import json
import threading
from pathlib import Path

import git
import pytest
from prefect.client.orchestration import get_client

from samoflow.convoy.record import MemberState
from samoflow.convoy.rounds import RoundVerdict
from samoflow.prefect_api.merge_lock import (
    merge_lock_name,
    prefect_merge_slot,
    repository_merge_lock,
)
from samoflow.session.files import SessionFiles
from samoflow.session.state import Lifecycle, load_state
from samoflow.tasks.convoy import table_key
from samoflow.workspace.merge import MergeStatus
from tests.conftest import make_repo
from tests.support.convoys import run_plan, use_slack, write_plan
from tests.support.merge_queue import (
    USE_GREET,
    USE_WELCOME_B,
    change,
    check_passes_at,
    checked_project,
    first_parent_merges,
    fixup_steps,
    member_a,
)
from tests.support.slack_capture import slack_capture

pytestmark = [pytest.mark.usefixtures("prefect_api"), pytest.mark.slow]


def fixup_messages(session_dir: str) -> list[dict[str, str]]:
    read = SessionFiles(Path(session_dir)).inbox_read
    found = [json.loads(p.read_text()) for p in sorted(read.glob("msg-*.json"))]
    return [m for m in found if m["kind"] == "merge_fixup"]


def test_b_is_sent_back_for_a_red_check_c_for_a_conflict_and_all_land_green(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = checked_project(repo)
    plan = write_plan(
        project.parent,
        "queue",
        {
            "a": member_a(),
            "b": change(
                {"use_b.py": USE_GREET}, fixup_steps(rule="ours", files={"use_b.py": USE_WELCOME_B})
            ),
            "c": change({"shared.txt": "from c\n"}, fixup_steps(rule="union")),
        },
        concurrency=1,  # members finish in plan order: a lands first
    )
    with slack_capture() as slack:
        use_slack(slack.url, monkeypatch)
        record = run_plan(plan, project)
    members = {m.name: m for m in record.members}
    assert all(m.state is MemberState.DONE for m in record.members), [
        (m.name, m.state, m.note) for m in record.members
    ]
    verdicts = {n: [r.verdict for r in m.rounds] for n, m in members.items()}
    assert verdicts == {
        "a": [RoundVerdict.LANDED],
        "b": [RoundVerdict.RED, RoundVerdict.LANDED],
        "c": [RoundVerdict.CONFLICT, RoundVerdict.LANDED],
    }
    assert all(m.rounds[-1].verified for m in record.members)
    assert members["b"].rounds[0].check == "sh check.sh"
    assert members["c"].rounds[0].files == ("shared.txt",)
    assert all(m.merge and m.merge.status is MergeStatus.MERGED for m in record.members)
    (b_fixup,) = fixup_messages(members["b"].session_dir)
    assert "cannot import name 'greet'" in b_fixup["text"]
    (c_fixup,) = fixup_messages(members["c"].session_dir)
    assert "shared.txt" in c_fixup["text"] and "git merge samoflow/convoy/queue" in c_fixup["text"]
    assert_green_after_every_merge(
        project,
        record.integration_branch,
        [m.rounds[-1].commit for m in (members["a"], members["b"], members["c"])],
    )
    integration = git.Repo(record.integration_worktree)
    assert not integration.is_dirty(untracked_files=True)
    assert (Path(record.integration_worktree) / "shared.txt").read_text() == "from c\nfrom a\n"
    rows = {r["member"]: r for r in convoy_table("queue")}
    assert {n: (r["merge queue"], r["merge rounds"]) for n, r in rows.items()} == {
        "a": ("checks green", 1),
        "b": ("checks green", 2),
        "c": ("checks green", 2),
    }
    (notice,) = [t for t in slack.texts() if "convoy queue finished" in t]
    assert "Merge queue rounds:" in notice
    for line in (
        "b round 1: check `sh check.sh` red",
        "b round 2: landed, checks green",
        "c round 1: conflict in shared.txt",
        "c round 2: landed, checks green",
        "a round 1: landed, checks green",
    ):
        assert line in notice, notice


def convoy_table(name: str) -> list[dict[str, object]]:
    """The convoy's member table artifact, as the Prefect UI shows it."""
    with get_client(sync_client=True) as client:
        by_key = {a.key: a for a in client.read_latest_artifacts()}
    data = by_key[table_key(name)].data
    return list(json.loads(data) if isinstance(data, str) else data)  # type: ignore[arg-type]


def assert_green_after_every_merge(repo: Path, branch: str, landed: list[str | None]) -> None:
    """The check, run on each commit of the integration branch's first-parent history."""
    merges = first_parent_merges(repo, "main", branch)
    assert merges == landed  # exactly one commit per landed member, in landing order
    assert all(check_passes_at(repo, commit) for commit in merges)


def test_a_member_never_fixed_ends_blocked_merge_and_the_others_land(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = checked_project(repo, max_rounds=2)
    plan = write_plan(
        project.parent,
        "stuck",
        {
            "a": member_a(),
            # Green in its own worktree (its gate passes), never merges: red again in the queue.
            "b": change({"use_b.py": USE_GREET}, fixup_steps(rule=None)),
            "d": change({"use_d.py": "print('d')\n"}),
        },
        concurrency=1,
    )
    with slack_capture() as slack:
        use_slack(slack.url, monkeypatch)
        record = run_plan(plan, project)
    members = {m.name: m for m in record.members}
    assert members["a"].state is MemberState.DONE and members["d"].state is MemberState.DONE
    assert [r.verdict for r in members["b"].rounds] == [RoundVerdict.RED, RoundVerdict.RED]
    assert members["b"].state is MemberState.BLOCKED
    assert (members["b"].note or "").startswith("merge: check `sh check.sh` red after 2 round")
    state = load_state(SessionFiles(Path(members["b"].session_dir)))
    assert state.lifecycle is Lifecycle.BLOCKED and "cannot import name" in (state.reason or "")
    assert len(fixup_messages(members["b"].session_dir)) == 1  # round 2 blocks: no third try
    landed = [members["a"].rounds[-1].commit, members["d"].rounds[-1].commit]
    assert_green_after_every_merge(project, record.integration_branch, landed)
    assert not git.Repo(record.integration_worktree).is_dirty(untracked_files=True)
    (notice,) = [t for t in slack.texts() if "convoy stuck finished" in t]
    assert "b round 2: check `sh check.sh` red" in notice and "1 blocked" in notice


def test_the_merge_lock_is_one_slot_per_repository(tmp_path: Path) -> None:
    first, second = make_repo(tmp_path / "one"), make_repo(tmp_path / "two")
    assert merge_lock_name(first) != merge_lock_name(second)
    assert merge_lock_name(first) == merge_lock_name(tmp_path / "x" / ".." / "one")
    held, release = threading.Event(), threading.Event()

    def hold() -> None:  # as a convoy on another machine would: the limit's slot alone
        with prefect_merge_slot(merge_lock_name(first), None):
            held.set()
            release.wait(60)

    # With the test's Prefect settings (the fixture's API): a bare thread has Prefect's
    # import-time settings, which start an ephemeral server of its own.
    holder = threading.Thread(target=contextvars.copy_context().run, args=(hold,))
    holder.start()
    try:
        assert held.wait(60)
        with pytest.raises(TimeoutError), repository_merge_lock(first, timeout_seconds=2):
            pass  # a second merger of the same repository waits
        with repository_merge_lock(second, timeout_seconds=30):
            pass  # another repository's queue is not held up
    finally:
        release.set()
        holder.join(60)
    with repository_merge_lock(first, timeout_seconds=30):
        pass  # released when the holder is done
    with get_client(sync_client=True) as client:
        limit = client.read_global_concurrency_limit_by_name(merge_lock_name(first))
    assert limit.limit == 1
