"""Merging into an integration branch in its own worktree: conflicts abort cleanly."""

from __future__ import annotations

import subprocess
from pathlib import Path

import git

from samoflow.project import load_config
from samoflow.workspace.merge import MergeStatus, merge_branch, prepare_integration


def commit_on(repo: Path, branch: str, files: dict[str, str]) -> None:
    run = lambda *a: subprocess.run(["git", *a], cwd=repo, check=True, capture_output=True)  # noqa: E731
    run("branch", branch, "main")
    tree = repo.parent / f"wt-{branch.replace('/', '-')}"
    run("worktree", "add", "-q", str(tree), branch)
    for name, text in files.items():
        (tree / name).write_text(text)
    subprocess.run(["git", "add", "-A"], cwd=tree, check=True)
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t.invalid", "commit", "-qm", branch],
        cwd=tree,
        check=True,
    )


def integration(repo: Path) -> Path:
    load_config(repo)  # keeps `.samoflow/` out of the main checkout's status
    return prepare_integration(
        repo, repo / ".samoflow/worktrees/_convoys/c", "samoflow/convoy/c", "main"
    )


def test_branches_merge_and_a_conflict_is_reported_and_aborted(repo: Path) -> None:
    commit_on(repo, "samoflow/a", {"a.txt": "a\n", "shared.txt": "from a\n"})
    commit_on(repo, "samoflow/b", {"shared.txt": "from b\n"})
    commit_on(repo, "samoflow/c", {"c.txt": "c\n"})
    tree = integration(repo)
    first = merge_branch(tree, "samoflow/a", "merge a")
    clash = merge_branch(tree, "samoflow/b", "merge b")
    third = merge_branch(tree, "samoflow/c", "merge c")
    assert first.status is MergeStatus.MERGED and third.status is MergeStatus.MERGED
    assert clash.status is MergeStatus.CONFLICT and clash.files == ("shared.txt",)
    assert clash.describe() == "conflict in shared.txt (branch samoflow/b kept)"
    merged = git.Repo(tree)
    assert not merged.is_dirty(untracked_files=True)
    assert (tree / "shared.txt").read_text() == "from a\n" and (tree / "c.txt").exists()
    assert "samoflow/b" in [h.name for h in git.Repo(repo).heads]
    main = git.Repo(repo)
    assert main.active_branch.name == "main" and not main.is_dirty(untracked_files=True)


def test_merging_again_is_a_no_op(repo: Path) -> None:
    commit_on(repo, "samoflow/a", {"a.txt": "a\n"})
    tree = integration(repo)
    assert merge_branch(tree, "samoflow/a", "m").status is MergeStatus.MERGED
    head = git.Repo(tree).head.commit.hexsha
    assert merge_branch(tree, "samoflow/a", "m").status is MergeStatus.ALREADY_MERGED
    assert git.Repo(tree).head.commit.hexsha == head


def test_a_merge_cut_off_by_a_crash_is_undone_before_the_next(repo: Path) -> None:
    commit_on(repo, "samoflow/a", {"shared.txt": "a\n"})
    commit_on(repo, "samoflow/b", {"shared.txt": "b\n"})
    tree = integration(repo)
    merge_branch(tree, "samoflow/a", "m")
    subprocess.run(["git", "merge", "samoflow/b"], cwd=tree, capture_output=True)  # conflicted
    assert git.Repo(tree).is_dirty()
    integration(repo)
    assert not git.Repo(tree).is_dirty(untracked_files=True)


def test_an_unknown_branch_is_a_failed_merge_not_an_exception(repo: Path) -> None:
    result = merge_branch(integration(repo), "samoflow/nope", "m")
    assert result.status is MergeStatus.FAILED and result.detail == "branch not found"
