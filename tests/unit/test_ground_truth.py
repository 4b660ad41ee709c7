"""The git ground truth on real repositories: what is healed, what blocks, and with what words."""

from __future__ import annotations

import shutil
from pathlib import Path

import git
import pytest

from samoflow.workspace.git_glance import session_git_in_order
from samoflow.workspace.ground_truth import (
    GitTruthError,
    SessionGit,
    unseen_changes_warning,
    verify_session_git,
)
from samoflow.workspace.worktrees import ensure_worktree
from tests.conftest import make_repo


def session(tmp_path: Path) -> tuple[git.Repo, SessionGit]:
    repo = git.Repo(make_repo(tmp_path / "repo"))
    worktree = ensure_worktree(repo, tmp_path / "wt" / "s", "samoflow/s", "main")
    return repo, SessionGit(
        repo=Path(repo.working_dir),
        worktree=worktree,
        branch="samoflow/s",
        base_branch="main",
        base_commit=repo.commit("main").hexsha,
    )


def test_a_healthy_session_needs_no_repair(tmp_path: Path) -> None:
    repo, place = session(tmp_path)
    truth = verify_session_git(place)
    assert truth.repairs == () and truth.base_commit == repo.commit("main").hexsha


def test_a_detached_head_blocks_with_the_checkout_that_fixes_it(tmp_path: Path) -> None:
    _, place = session(tmp_path)
    git.Repo(place.worktree).git.checkout("--detach")
    with pytest.raises(GitTruthError, match="has a detached HEAD checked out") as raised:
        verify_session_git(place)
    assert f"git -C {place.worktree} checkout samoflow/s" in str(raised.value)


def test_a_lost_branch_with_its_worktree_pruned_blocks_and_says_how_to_recreate_it(
    tmp_path: Path,
) -> None:
    repo, place = session(tmp_path)
    shutil.rmtree(place.worktree)
    repo.git.worktree("prune")  # the worktree's reflog goes with it
    repo.git.update_ref("-d", "refs/heads/samoflow/s")
    with pytest.raises(GitTruthError, match="was deleted and worktree") as raised:
        verify_session_git(place)
    assert "git branch samoflow/s" in str(raised.value)


def test_the_main_checkout_is_never_the_sessions_worktree(tmp_path: Path) -> None:
    repo, place = session(tmp_path)
    repo.git.checkout("samoflow/s", "--ignore-other-worktrees")
    main = place.model_copy(update={"worktree": Path(repo.working_dir)})
    with pytest.raises(GitTruthError, match=r"is \(or holds\) the main checkout"):
        verify_session_git(main)


def test_an_old_session_without_a_recorded_base_gets_the_merge_base(tmp_path: Path) -> None:
    repo, place = session(tmp_path)
    truth = verify_session_git(place.model_copy(update={"base_commit": None}))
    assert truth.base_commit == repo.commit("main").hexsha


def test_uncommitted_changes_are_named_and_samoflows_own_config_is_not(tmp_path: Path) -> None:
    repo = git.Repo(make_repo(tmp_path / "repo"))
    (Path(repo.working_dir) / ".samoflow.toml").write_text("x\n")
    assert unseen_changes_warning(repo, "main") is None
    (Path(repo.working_dir) / "README.md").write_text("edited\n")
    warning = unseen_changes_warning(repo, "main")
    assert warning is not None and "1 uncommitted change(s)" in warning and "README.md" in warning


def test_a_folder_with_its_own_git_is_never_moved_aside(tmp_path: Path) -> None:
    _, place = session(tmp_path)
    shutil.rmtree(place.worktree)
    make_repo(place.worktree)  # someone's repository where the worktree was
    with pytest.raises(GitTruthError, match=r"has its own \.git or files of the main checkout"):
        verify_session_git(place)
    assert (place.worktree / "README.md").exists()


def test_a_folder_of_the_main_checkout_is_never_moved_aside(tmp_path: Path) -> None:
    repo, place = session(tmp_path)
    inside = Path(repo.working_dir) / "src"
    inside.mkdir()
    (inside / "app.py").write_text("print('mine')\n")
    repo.git.add("src/app.py")
    with pytest.raises(GitTruthError, match="files of the main checkout"):
        verify_session_git(place.model_copy(update={"worktree": inside}))
    assert (inside / "app.py").exists()


def in_order(place: SessionGit, base: str) -> bool:
    return session_git_in_order(place.repo, place.worktree, place.branch, base)


def test_the_one_process_glance_sees_a_healthy_session_and_nothing_else(tmp_path: Path) -> None:
    repo, place = session(tmp_path)
    base = repo.commit("main").hexsha
    assert in_order(place, base)
    assert not in_order(place.model_copy(update={"branch": "samoflow/other"}), base)
    git.Repo(place.worktree).git.checkout("--detach")
    assert not in_order(place, base)
    git.Repo(place.worktree).git.checkout("samoflow/s")
    Path(repo.working_dir, "off.txt").write_text("off\n")
    repo.git.checkout("-b", "off")
    repo.git.add("off.txt")
    repo.git.commit("-m", "not in the session's history")
    assert not in_order(place, repo.commit("off").hexsha)  # not a base of the session's branch


def test_a_copy_of_the_worktree_is_not_the_sessions_worktree(tmp_path: Path) -> None:
    _, place = session(tmp_path)
    copy = tmp_path / "wt" / "copy"
    shutil.copytree(place.worktree, copy)  # its .git file points at the original's admin dir
    with pytest.raises(GitTruthError, match=r"has its own \.git"):
        verify_session_git(place.model_copy(update={"worktree": copy}))


def test_the_glance_reads_packed_refs_and_sees_a_rewritten_branch(tmp_path: Path) -> None:
    repo, place = session(tmp_path)
    base = repo.commit("main").hexsha
    repo.git.pack_refs("--all")  # the branch's loose ref file is gone: only packed-refs
    assert not (Path(repo.git_dir) / "refs" / "heads" / "samoflow" / "s").exists()
    assert in_order(place, base)
    tree = repo.git.write_tree()
    orphan = repo.git.commit_tree(tree, "-m", "a history of its own")
    repo.git.update_ref("refs/heads/samoflow/s", orphan)  # the branch no longer holds the base
    assert not in_order(place, base)
    assert not in_order(place, "0" * 40)  # a base that is no commit at all


def test_the_glance_declines_a_copy_and_a_worktree_registered_elsewhere(tmp_path: Path) -> None:
    _, place = session(tmp_path)
    base = place.base_commit
    assert base is not None
    copy = tmp_path / "wt" / "copy"
    shutil.copytree(place.worktree, copy)
    assert not in_order(place.model_copy(update={"worktree": copy}), base)
    other, _ = session(tmp_path / "other")
    assert not in_order(place.model_copy(update={"repo": Path(other.working_dir)}), base)
