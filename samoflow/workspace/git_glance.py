"""The cheap proof that a session's git is in order, read from git's own files.

The full ground truth check (`ground_truth.verify_session_git`) runs five or six git
processes (and opens the repository through GitPython); before every attempt of a healthy
session that was most of samoflow's own time per iteration, and even one `git rev-parse`
costs a fork of the orchestrator (8-20 ms here). This glance proves the same facts from the
files git keeps them in: the worktree's `.git` pointer, its admin folder under
`.git/worktrees/` (`gitdir`, `commondir`, `HEAD`) and the repository's refs (loose or
packed); one `merge-base` runs only when the branch tip moved. It answers only "all in
order" or "not sure": anything unexpected (a detached HEAD, a copied or foreign worktree,
a symbolic or missing ref, the reftable ref store, a repository of another shape) sends the
caller to the full check, which heals or explains.

Git writes each of these files whole (a lock file renamed into place), so a read never sees
half of one.
"""

from __future__ import annotations

import re
import subprocess
import threading
from pathlib import Path

# (repository, base, tip) proven: a commit's ancestry never changes, so it is asked once.
_DESCENDS: set[tuple[str, str, str]] = set()
_DESCENDS_GUARD = threading.Lock()
# A full object name: SHA-1 (40) or SHA-256 (64) hex digits.
_OBJECT_NAME = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?")
_SYMBOLIC_REF = "ref: "


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None


def _admin_dir(worktree: Path) -> Path | None:
    """The worktree's admin folder, from its `.git` file (`gitdir: <path>`)."""
    pointer = _read(worktree / ".git")
    if pointer is None or not pointer.startswith("gitdir: "):
        return None
    admin = Path(pointer.removeprefix("gitdir: ").strip())
    return (admin if admin.is_absolute() else worktree / admin).resolve()


def _common_dir(admin_dir: Path) -> Path | None:
    relative = _read(admin_dir / "commondir")
    if relative is None:
        return None
    common = Path(relative)
    return (common if common.is_absolute() else admin_dir / common).resolve()


def _registered_here(admin_dir: Path, worktree: Path) -> bool:
    """The repository's record of this worktree points at this folder (not a copy of it)."""
    recorded = _read(admin_dir / "gitdir")
    if recorded is None:
        return False
    recorded_path = Path(recorded)
    if not recorded_path.is_absolute():
        recorded_path = admin_dir / recorded_path
    return recorded_path.resolve() == (worktree / ".git").resolve()


def _ref_commit(common_dir: Path, ref: str) -> str | None:
    """The object a branch ref names: its loose file, else its `packed-refs` line; None for
    a symbolic, missing or malformed ref (the full check knows what to make of those)."""
    loose = _read(common_dir / ref)
    if loose is not None:
        return loose if _OBJECT_NAME.fullmatch(loose) else None
    packed = _read(common_dir / "packed-refs")
    for line in (packed or "").splitlines():
        name, _, packed_ref = line.partition(" ")
        if packed_ref == ref and _OBJECT_NAME.fullmatch(name):
            return name
    return None


def _head_commit(head_file: Path, common_dir: Path) -> str | None:
    """The commit a HEAD file points at (through its branch, or detached)."""
    head = _read(head_file)
    if head is None:
        return None
    if head.startswith(_SYMBOLIC_REF):
        return _ref_commit(common_dir, head.removeprefix(_SYMBOLIC_REF).strip())
    return head if _OBJECT_NAME.fullmatch(head) else None


def _descends(repo: Path, base: str, tip: str) -> bool:
    if base == tip:
        return True  # no commit on the branch yet: a commit descends from itself
    key = (str(repo), base, tip)
    with _DESCENDS_GUARD:
        if key in _DESCENDS:
            return True
    ancestry = subprocess.run(
        ["git", "-C", str(repo), "merge-base", "--is-ancestor", base, tip],
        capture_output=True,
        check=False,
    )
    if ancestry.returncode != 0:  # not an ancestor, or not a commit at all
        return False
    with _DESCENDS_GUARD:
        _DESCENDS.add(key)
    return True


def session_git_in_order(repo: Path, worktree: Path, branch: str, base: str) -> bool:
    """True only when all holds: `worktree` is a registered worktree of `repo` (its own
    top, not a copy), with `branch` checked out, the main checkout's HEAD has a commit, and
    `branch` descends from `base`."""
    main, tree = repo.resolve(), worktree.resolve()
    if tree == main or tree in main.parents or not (tree / ".git").is_file():
        return False
    admin_dir = _admin_dir(tree)
    if admin_dir is None or not _registered_here(admin_dir, tree):
        return False
    common_dir = _common_dir(admin_dir)
    if common_dir != (main / ".git").resolve() or (common_dir / "reftable").exists():
        return False
    branch_ref = f"refs/heads/{branch}"
    if _read(admin_dir / "HEAD") != f"{_SYMBOLIC_REF}{branch_ref}":
        return False  # detached, or another branch checked out
    tip = _ref_commit(common_dir, branch_ref)
    if tip is None or _head_commit(common_dir / "HEAD", common_dir) is None:
        return False
    return _descends(main, base, tip)
