"""Git worktrees: one per session, so an agent never edits the main checkout."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import git


class RepoError(ValueError):
    """The repository cannot host sessions; the message says why."""


def open_repo(path: Path) -> git.Repo:
    if not path.is_dir():
        raise RepoError(f"{path} is not a directory")
    try:
        repo = git.Repo(path)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError) as error:
        raise RepoError(f"{path} is not a git repository (run `git init` there)") from error
    if repo.bare:
        raise RepoError(f"{path} is a bare repository; samoflow needs a working tree")
    if not repo.head.is_valid():
        raise RepoError(f"{path} has no commits yet; commit something first")
    return repo


def current_branch(repo: git.Repo) -> str:
    if repo.head.is_detached:
        raise RepoError(f"{repo.working_dir} has a detached HEAD; check out a branch")
    return repo.active_branch.name


def registered_worktrees(repo: git.Repo) -> dict[Path, str | None]:
    """Worktree path -> branch, as git itself knows them."""
    found: dict[Path, str | None] = {}
    current: Path | None = None
    for line in repo.git.worktree("list", "--porcelain").splitlines():
        if line.startswith("worktree "):
            current = Path(line.removeprefix("worktree ")).resolve()
            found[current] = None
        elif line.startswith("branch ") and current is not None:
            found[current] = line.removeprefix("branch refs/heads/")
    return found


@contextmanager
def worktree_lock(repo: git.Repo) -> Iterator[None]:
    """One worktree change at a time per repository, across processes.

    Seen with two workers on one repo: `git worktree prune` of one process deleted the
    half-created admin folder of another's `git worktree add` ("could not open
    .git/worktrees/<name>/locked").
    """
    lock_path = Path(repo.git_dir) / "samoflow-worktrees.lock"
    with lock_path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_worktree(repo: git.Repo, path: Path, branch: str, base: str) -> Path:
    """The session's worktree on `branch`, created off `base` the first time, reused after."""
    with worktree_lock(repo):
        return _ensure_worktree(repo, path.resolve(), branch, base)


def is_worktree_root(path: Path) -> bool:
    """Git itself sees `path` as the top of a working tree (not a stray folder inside main)."""
    if not (path / ".git").is_file():
        return False
    try:
        top = git.Repo(path).git.rev_parse("--show-toplevel")
    except (git.GitCommandError, git.InvalidGitRepositoryError, git.NoSuchPathError):
        return False
    return Path(top).resolve() == path.resolve()


def _ensure_worktree(repo: git.Repo, path: Path, branch: str, base: str) -> Path:
    known = registered_worktrees(repo)
    if path in known and is_worktree_root(path):
        if known[path] != branch:
            raise RepoError(f"worktree {path} is on branch {known[path]!r}, expected {branch!r}")
        return path
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise RepoError(f"{path} exists and is not a worktree of {repo.working_dir}")
    path.parent.mkdir(parents=True, exist_ok=True)
    repo.git.worktree("prune")
    if branch in [head.name for head in repo.heads]:
        repo.git.worktree("add", str(path), branch)
    else:
        repo.git.worktree("add", "-b", branch, str(path), base)
    return path


def branch_commits(repo: git.Repo, branch: str, base: str) -> list[str]:
    """Commits on `branch` that `base` does not have, oldest first."""
    return list(reversed(repo.git.rev_list(f"{base}..{branch}").split())) if branch else []
