"""`samoflow clean`: verify, then act; never lose uncommitted or unmerged work."""

from __future__ import annotations

import subprocess
from pathlib import Path

from samoflow.project import load_config
from samoflow.session.cleanup import check_worktree, remove_worktree
from samoflow.session.files import SessionFiles
from samoflow.session.history import HistoryEntry, Outcome, append_entry
from samoflow.session.spec import AgentSpec
from samoflow.session.store import create_session


def finished_session(repo: Path, name: str) -> tuple[SessionFiles, Path]:
    files = create_session(load_config(repo), name=name, task="t", dive=None, agent=AgentSpec())
    append_entry(files.history, HistoryEntry(iteration=1, phase="done", outcome=Outcome.DONE))
    return files, repo / ".samoflow" / "worktrees" / name


def commit_in(tree: Path, name: str) -> None:
    (tree / name).write_text("work\n")
    subprocess.run(["git", "add", "-A"], cwd=tree, check=True)
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t.invalid", "commit", "-qm", name],
        cwd=tree,
        check=True,
    )


def test_a_finished_clean_merged_worktree_is_removed_and_its_branch_kept(repo: Path) -> None:
    files, tree = finished_session(repo, "tidy")
    assert check_worktree(files).removable
    assert remove_worktree(files).removable and not tree.exists()
    branches = subprocess.run(["git", "branch"], cwd=repo, capture_output=True, text=True).stdout
    assert "samoflow/tidy" in branches


def test_uncommitted_work_keeps_the_worktree(repo: Path) -> None:
    files, tree = finished_session(repo, "dirty")
    (tree / "draft.txt").write_text("not committed\n")
    check = remove_worktree(files)
    assert check.reasons == ("it holds uncommitted or untracked work",) and tree.exists()


def test_an_unmerged_branch_keeps_the_worktree(repo: Path) -> None:
    files, tree = finished_session(repo, "ahead")
    commit_in(tree, "feature.txt")
    (reason,) = remove_worktree(files).reasons
    assert reason.startswith("1 commit(s) of samoflow/ahead are on neither main") and tree.exists()


def test_a_commit_merged_into_an_integration_branch_counts_as_merged(repo: Path) -> None:
    files, tree = finished_session(repo, "landed")
    commit_in(tree, "feature.txt")
    subprocess.run(["git", "branch", "samoflow/convoy/c", "samoflow/landed"], cwd=repo, check=True)
    assert remove_worktree(files).removable and not tree.exists()


def test_an_unfinished_session_keeps_its_worktree(repo: Path) -> None:
    files = create_session(load_config(repo), name="busy", task="t", dive=None, agent=AgentSpec())
    assert check_worktree(files).reasons == ("the session is new: it still needs its worktree",)
