"""Merge finished session branches into a convoy's integration branch, in its own worktree.

The user's main checkout is never touched: merges happen in a dedicated integration worktree
(`<worktrees>/_convoys/<name>`, branch `samoflow/convoy/<name>`, created off the base branch).
A conflict aborts that one merge cleanly and is reported with the conflicting files; the
session's branch is kept as it is, and the next branch is merged as if nothing happened.
"""

from __future__ import annotations

import contextlib
from enum import StrEnum
from pathlib import Path

import git
from pydantic import BaseModel, ConfigDict

from samoflow.workspace.worktrees import RepoError, ensure_worktree, open_repo

# Used only when the repository has no identity of its own, so merges never fail on it.
FALLBACK_IDENTITY = {
    "GIT_AUTHOR_NAME": "samoflow",
    "GIT_AUTHOR_EMAIL": "samoflow@localhost.invalid",
    "GIT_COMMITTER_NAME": "samoflow",
    "GIT_COMMITTER_EMAIL": "samoflow@localhost.invalid",
}


class MergeStatus(StrEnum):
    MERGED = "merged"
    ALREADY_MERGED = "already merged"  # also: a branch with nothing beyond its base
    CONFLICT = "conflict"
    FAILED = "failed"  # git refused for another reason (the detail says which)
    RED = "checks red"  # merged, the checks failed, the integration branch moved back


class MergeResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    status: MergeStatus
    branch: str
    files: tuple[str, ...] = ()  # the conflicting files
    commit: str | None = None
    detail: str | None = None

    def describe(self) -> str:
        if self.status is MergeStatus.CONFLICT:
            return f"conflict in {', '.join(self.files) or '?'} (branch {self.branch} kept)"
        if self.status is MergeStatus.FAILED:
            return f"merge failed: {self.detail}"
        if self.status is MergeStatus.RED:
            return f"checks red after the merge ({self.detail}): rolled back"
        return self.status.value


def prepare_integration(repo_path: Path, worktree: Path, branch: str, base: str) -> Path:
    """The integration worktree, created off `base` once; a merge a crash cut off is undone."""
    path = ensure_worktree(open_repo(repo_path), worktree, branch, base)
    integration = git.Repo(path)
    if _merge_in_progress(integration):
        integration.git.merge("--abort")
    if integration.is_dirty(untracked_files=True):
        raise RepoError(
            f"the integration worktree {path} has changes samoflow did not make: "
            "commit or remove them, then run the convoy again"
        )
    return path


def _merge_in_progress(repo: git.Repo) -> bool:
    path = Path(repo.git.rev_parse("--git-path", "MERGE_HEAD"))
    return (path if path.is_absolute() else Path(repo.working_dir) / path).exists()


def _is_ancestor(repo: git.Repo, branch: str) -> bool:
    try:
        repo.git.merge_base("--is-ancestor", branch, "HEAD")
    except git.GitCommandError:
        return False
    return True


def _identity(repo: git.Repo) -> dict[str, str]:
    try:
        repo.git.config("user.email")
    except git.GitCommandError:
        return FALLBACK_IDENTITY
    return {}


def merge_branch(worktree: Path, branch: str, message: str) -> MergeResult:
    """Merge `branch` into the worktree's branch with a merge commit; abort on a conflict."""
    repo = git.Repo(worktree)
    if branch not in [head.name for head in repo.heads]:
        return MergeResult(status=MergeStatus.FAILED, branch=branch, detail="branch not found")
    if _is_ancestor(repo, branch):
        return MergeResult(status=MergeStatus.ALREADY_MERGED, branch=branch)
    try:
        with repo.git.custom_environment(**_identity(repo)):
            repo.git.merge("--no-ff", "--no-edit", "-m", message, branch)
    except git.GitCommandError as error:
        return _undo_failed_merge(repo, branch, error)
    return MergeResult(status=MergeStatus.MERGED, branch=branch, commit=repo.head.commit.hexsha)


def _undo_failed_merge(repo: git.Repo, branch: str, error: git.GitCommandError) -> MergeResult:
    conflicted = tuple(repo.git.diff("--name-only", "--diff-filter=U").split())
    if _merge_in_progress(repo):
        repo.git.merge("--abort")
    with contextlib.suppress(git.GitCommandError):
        repo.git.reset("--hard", "HEAD")  # nothing of a refused merge may stay behind
    if conflicted:
        return MergeResult(status=MergeStatus.CONFLICT, branch=branch, files=conflicted)
    detail = (error.stderr or str(error)).strip().splitlines()
    return MergeResult(status=MergeStatus.FAILED, branch=branch, detail=" ".join(detail)[-300:])


def branch_head(repo_path: Path, branch: str) -> str:
    """The commit `branch` points at now."""
    return str(git.Repo(repo_path).git.rev_parse("--verify", f"refs/heads/{branch}^{{commit}}"))


def roll_back(worktree: Path, branch: str, old: str) -> None:
    """Move the integration branch back to `old` and leave its worktree exactly at it.

    `update-ref` with the expected current value moves only this one ref, and only if no
    one moved it meanwhile; no other branch is ever forced.
    """
    repo = git.Repo(worktree)
    if _merge_in_progress(repo):
        repo.git.merge("--abort")
    current = branch_head(worktree, branch)
    if current != old:
        repo.git.update_ref(
            "-m", "samoflow merge queue: roll back", f"refs/heads/{branch}", old, current
        )
    clean_worktree(worktree)


def clean_worktree(worktree: Path) -> None:
    """Index and files as HEAD has them; untracked files a check left are removed (ignored
    ones, like caches, stay: they never make the worktree dirty)."""
    repo = git.Repo(worktree)
    repo.git.reset("--hard", "HEAD")
    repo.git.clean("-fd")
    if repo.is_dirty(untracked_files=True):
        raise RepoError(f"the integration worktree {worktree} stays dirty after a reset")
