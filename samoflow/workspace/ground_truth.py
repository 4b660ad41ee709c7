"""Git ground truth of one session, checked before every attempt and every merge.

The session's worktree must exist, be a registered worktree of the repository with the
session's branch checked out, and that branch must descend from the base recorded when the
session was created. What can be healed is healed and said (a missing worktree is recreated
from the branch, a missing branch from the worktree's HEAD); what cannot raises
`GitTruthError` with what happened and what to do, so no agent ever runs outside its own
worktree and nothing lands on the main checkout.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import git
from pydantic import BaseModel, ConfigDict

from samoflow.workspace.git_glance import session_git_in_order
from samoflow.workspace.worktrees import (
    RepoError,
    is_worktree_root,
    open_repo,
    registered_worktrees,
    worktree_lock,
)

ZERO_SHA = "0" * 40


class GitTruthError(RepoError):
    """The session's git state is wrong and cannot be healed: the message says what to do."""


class SessionGit(BaseModel):
    """Where a session's work lives in git (from its spec)."""

    model_config = ConfigDict(frozen=True)

    repo: Path
    worktree: Path
    branch: str
    base_branch: str
    base_commit: str | None = None  # None: a session from before it was recorded
    resume_hint: str = "resume the session"


class GitTruth(BaseModel):
    """What the check found: the base it verified against, and every repair it made."""

    model_config = ConfigDict(frozen=True)

    base_commit: str
    repairs: tuple[str, ...] = ()


def verify_session_git(place: SessionGit, *, need_worktree: bool = True) -> GitTruth:
    """Heal what can be healed, then prove branch, worktree and base; raise otherwise."""
    known_base = place.base_commit
    if need_worktree and known_base and session_git_in_order(
        place.repo, place.worktree, place.branch, known_base
    ):
        return GitTruth(base_commit=known_base)  # the usual case: one git process, no repair
    repo = open_repo(place.repo)
    _refuse_main_checkout(repo, place)
    with worktree_lock(repo):
        repairs = [*_recover_branch(repo, place)]  # first: a prune below would lose the reflog
        if need_worktree:
            repairs += _restore_worktree(repo, place)
            _check_checked_out(repo, place)
        base = place.base_commit or base_of(repo, place.branch, place.base_branch)
        _check_descends(repo, place, base)
    return GitTruth(base_commit=base, repairs=tuple(repairs))


def base_of(repo: git.Repo, branch: str, base_branch: str) -> str:
    """The commit a session starts from (recorded at creation; merge-base for old ones)."""
    try:
        return str(repo.git.merge_base(base_branch, branch)).strip()
    except git.GitCommandError as error:
        raise GitTruthError(
            f"branch {branch} shares no history with {base_branch}: it was recreated or "
            f"rewritten; point it back at the session's work (`git reflog` shows it), then "
            "resume the session"
        ) from error


def _has_branch(repo: git.Repo, branch: str) -> bool:
    try:
        repo.git.rev_parse("--verify", "--quiet", f"refs/heads/{branch}^{{commit}}")
    except git.GitCommandError:
        return False
    return True


def _admin_dir(repo: git.Repo, worktree: Path) -> Path | None:
    """The worktree's folder under `.git/worktrees/`: it outlives a deleted worktree."""
    admin_root = Path(repo.git.rev_parse("--git-common-dir"))
    if not admin_root.is_absolute():
        admin_root = Path(repo.working_dir) / admin_root
    for gitdir in (admin_root / "worktrees").glob("*/gitdir"):
        pointed = Path(gitdir.read_text(encoding="utf-8").strip()).parent
        if pointed.resolve() == worktree.resolve():
            return gitdir.parent
    return None


def _last_head(repo: git.Repo, worktree: Path) -> str | None:
    """The newest commit the worktree's HEAD was at, from its reflog (a ref delete zeroes it)."""
    admin = _admin_dir(repo, worktree)
    reflog = admin / "logs" / "HEAD" if admin is not None else None
    if reflog is None or not reflog.is_file():
        return None
    for line in reversed(reflog.read_text(encoding="utf-8", errors="replace").splitlines()):
        fields = line.split(" ", 2)
        if len(fields) >= 2 and fields[1] != ZERO_SHA:
            return fields[1]
    return None


def _recover_branch(repo: git.Repo, place: SessionGit) -> list[str]:
    if _has_branch(repo, place.branch):
        return []
    commit = _last_head(repo, place.worktree)
    if commit is None:
        raise GitTruthError(
            f"branch {place.branch} was deleted and worktree {place.worktree} has no commit to "
            f"recover it from: recreate it (`git branch {place.branch} <the session's last "
            f"commit>`, see `git reflog`), then {place.resume_hint}"
        )
    repo.git.update_ref(f"refs/heads/{place.branch}", commit)
    return [f"branch {place.branch} was deleted: recovered at {commit[:12]} from its worktree"]


def _restore_worktree(repo: git.Repo, place: SessionGit) -> list[str]:
    path = place.worktree.resolve()
    if path in registered_worktrees(repo) and is_worktree_root(path):
        return []
    repairs = []
    if path.is_file() or path.is_symlink():
        raise GitTruthError(
            f"the session's worktree {path} is a file now: move it away, then {place.resume_hint}"
        )
    if (path / ".git").exists() or _tracked_by_main(repo, path):
        raise GitTruthError(
            f"the session's worktree {path} is not a working worktree of {repo.working_dir} "
            f"but has its own .git or files of the main checkout: samoflow leaves it alone; "
            f"point the session at its own worktree, then {place.resume_hint}"
        )
    if path.is_dir() and any(path.iterdir()):
        stray = _free_name(path)
        shutil.move(str(path), str(stray))  # never deleted: it may hold someone's files
        repairs.append(f"the worktree folder was no longer a git worktree: files moved to {stray}")
    elif path.is_dir():
        path.rmdir()
    repo.git.worktree("prune")
    try:
        repo.git.worktree("add", str(path), place.branch)
    except git.GitCommandError as error:
        raise GitTruthError(
            f"the session's worktree {path} was missing and could not be recreated from "
            f"{place.branch}: {(error.stderr or '').strip()[-300:]}; fix that, then "
            f"{place.resume_hint}"
        ) from error
    head = repo.commit(place.branch).hexsha[:12]
    return [*repairs, f"worktree was missing: recreated from {place.branch} at {head} ({path})"]


def _tracked_by_main(repo: git.Repo, path: Path) -> bool:
    """Files of the main checkout live there: moving the folder would change the user's tree."""
    try:
        return bool(repo.git.ls_files("--", str(path)).strip())
    except git.GitCommandError:
        return False  # outside the main checkout: nothing of it there


def _free_name(path: Path) -> Path:
    counter = 1
    while (candidate := path.with_name(f"{path.name}.stray-{counter}")).exists():
        counter += 1
    return candidate


def _refuse_main_checkout(repo: git.Repo, place: SessionGit) -> None:
    main = Path(repo.working_dir).resolve()
    worktree = place.worktree.resolve()
    if worktree == main or worktree in main.parents:
        raise GitTruthError(
            f"the session's working dir {place.worktree} is (or holds) the main checkout: "
            f"samoflow never runs an agent there; give the session its own worktree, then "
            f"{place.resume_hint}"
        )


def _check_checked_out(repo: git.Repo, place: SessionGit) -> None:
    found = registered_worktrees(repo).get(place.worktree.resolve())
    if found != place.branch:
        what = f"branch {found}" if found else "a detached HEAD"
        raise GitTruthError(
            f"worktree {place.worktree} has {what} checked out, not the session's branch "
            f"{place.branch}: run `git -C {place.worktree} checkout {place.branch}`, then "
            f"{place.resume_hint}"
        )


def _check_descends(repo: git.Repo, place: SessionGit, base: str) -> None:
    try:
        repo.git.merge_base("--is-ancestor", base, place.branch)
    except git.GitCommandError as error:
        tip = repo.commit(place.branch).hexsha[:12] if _has_branch(repo, place.branch) else "?"
        raise GitTruthError(
            f"branch {place.branch} (at {tip}) no longer descends from the session's base "
            f"{base[:12]} ({place.base_branch} when it started): it was recreated or rewritten; "
            f"point it back at the session's work (`git reflog` shows it), then "
            f"{place.resume_hint}"
        ) from error


# samoflow's own config: read from the main checkout, never needed in the worktree.
OWN_FILES = frozenset({".samoflow.toml"})
SHOWN_CHANGES = 5


def unseen_changes_warning(repo: git.Repo, base: str) -> str | None:
    """A warning when the main checkout has uncommitted changes a new worktree will not have."""
    lines = repo.git.status("--porcelain", "--untracked-files=all").splitlines()
    changed = [line[3:] for line in lines if line[3:].strip('"') not in OWN_FILES]
    if not changed:
        return None
    shown = ", ".join(changed[:SHOWN_CHANGES]) + (" ..." if len(changed) > SHOWN_CHANGES else "")
    return (
        f"the main checkout {repo.working_dir} has {len(changed)} uncommitted change(s) this "
        f"session will not see (its worktree starts from {base}): {shown}; commit them on "
        f"{base} first if the agent needs them"
    )
