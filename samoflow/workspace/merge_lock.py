"""The repository's merge lock on this machine: an flock on a file in its git folder.

Every process on the machine that merges into the repository (convoys in two shells, two
workers of one `samoflow up`) takes it first, whichever Prefect API it talks to. Taken by
another open of the file, in this process or another, it waits; a holder that dies
releases it with its file descriptors, at once.
"""

from __future__ import annotations

import fcntl
import hashlib
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import git

LOCK_FILE = "samoflow-merge.lock"
_POLL_SECONDS = 0.05


def merge_lock_path(repo: Path) -> Path:
    """In the repository's git folder (shared by its worktrees), beside the worktree lock;
    for a path that is no repository (gone, say), in the temporary folder, named by the
    path: the merge under it then fails with git's own message, as it would unlocked."""
    try:
        return Path(git.Repo(repo).common_dir).resolve() / LOCK_FILE
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        digest = hashlib.sha256(str(repo.resolve()).encode()).hexdigest()[:16]
        return Path(tempfile.gettempdir()) / f"samoflow-merge-{digest}.lock"


@contextmanager
def machine_merge_lock(repo: Path, timeout_seconds: float | None = None) -> Iterator[None]:
    """Hold the repository's merge lock on this machine; TimeoutError after the timeout."""
    with merge_lock_path(repo).open("a") as handle:
        if timeout_seconds is None:
            fcntl.flock(handle, fcntl.LOCK_EX)
        else:
            _flock_within(handle.fileno(), repo, time.monotonic() + timeout_seconds)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _flock_within(fd: int, repo: Path, deadline: float) -> None:
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"another merger holds {repo}'s merge lock on this machine"
                ) from None
            time.sleep(_POLL_SECONDS)
