"""The cheap proof that a session's git is in order: one `git rev-parse` in its worktree.

The full ground truth check (`ground_truth.verify_session_git`) runs five or six git
processes (and opens the repository through GitPython); before every attempt of a healthy
session that is most of samoflow's own time per iteration. This glance proves the same
facts from one `rev-parse` and the worktree's admin files, plus one `merge-base` when the
branch tip moved. It answers only "all in order" or "not sure": anything unexpected (an
error, a detached HEAD, a copied or foreign worktree, a repository of another shape) sends
the caller to the full check, which heals or explains.
"""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path

# (repository, base, tip) proven: a commit's ancestry never changes, so it is asked once.
_DESCENDS: set[tuple[str, str, str]] = set()
_DESCENDS_GUARD = threading.Lock()


def _git(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "-C", str(cwd), *args], capture_output=True, text=True, check=False
    )


def _worktree_facts(worktree: Path, branch: str) -> list[str] | None:
    """toplevel, common dir, admin dir, the branch's tip, main's HEAD commit, HEAD's ref."""
    found = _git(
        worktree,
        "rev-parse",
        "--path-format=absolute",
        "--show-toplevel",
        "--git-common-dir",
        "--git-dir",
        f"refs/heads/{branch}^{{commit}}",
        "main-worktree/HEAD^{commit}",  # the main checkout has a commit (open_repo's rule)
        "--symbolic-full-name",
        "HEAD",
    )
    lines = found.stdout.splitlines()
    return lines if found.returncode == 0 and len(lines) == 6 else None


def _registered_here(admin_dir: Path, worktree: Path) -> bool:
    """The repository's record of this worktree points at this folder (not a copy of it)."""
    try:
        recorded = (admin_dir / "gitdir").read_text(encoding="utf-8").strip()
    except OSError:
        return False
    return Path(recorded).resolve() == (worktree / ".git").resolve()


def _descends(repo: Path, base: str, tip: str) -> bool:
    key = (str(repo), base, tip)
    with _DESCENDS_GUARD:
        if key in _DESCENDS:
            return True
    if _git(repo, "merge-base", "--is-ancestor", base, tip).returncode != 0:
        return False
    with _DESCENDS_GUARD:
        _DESCENDS.add(key)
    return True


def session_git_in_order(repo: Path, worktree: Path, branch: str, base: str) -> bool:
    """True only when all holds: `worktree` is a registered worktree of `repo` (its own
    top, not a copy), with `branch` checked out, and `branch` descends from `base`."""
    main, tree = repo.resolve(), worktree.resolve()
    if tree == main or tree in main.parents or not (tree / ".git").is_file():
        return False
    facts = _worktree_facts(tree, branch)
    if facts is None:
        return False
    toplevel, common_dir, admin_dir, tip, _main_head, head_ref = facts
    return (
        Path(toplevel).resolve() == tree
        and Path(common_dir).resolve() == (main / ".git").resolve()
        and head_ref == f"refs/heads/{branch}"
        and _registered_here(Path(admin_dir), tree)
        and _descends(main, base, tip)
    )
