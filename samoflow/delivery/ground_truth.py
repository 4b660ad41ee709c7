"""Ground truth before `done`: the worktree is clean and the branch has commits of its own."""

from __future__ import annotations

import subprocess
from pathlib import Path

from pydantic import BaseModel, ConfigDict

COMMIT_YOUR_WORK = "commit your work"


class GroundTruth(BaseModel):
    model_config = ConfigDict(frozen=True)

    uncommitted: tuple[str, ...] = ()  # `git status --porcelain` lines
    commits_beyond_base: int = 0
    problem: str | None = None  # what makes this a red round; None: fine


def _git(worktree: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "-C", str(worktree), *args], capture_output=True, text=True, check=False
    )


def _problem(truth: GroundTruth, base: str, expect_changes: bool) -> str | None:
    if truth.uncommitted:
        shown = "\n".join(truth.uncommitted[:20])
        return f"{COMMIT_YOUR_WORK}: the worktree has uncommitted changes\n{shown}"
    if expect_changes and truth.commits_beyond_base == 0:
        return (
            f"the branch has no commits beyond {base}: commit your work, or say the task "
            'changes nothing (a done signal with "state": {"changes": "none"})'
        )
    return None


def verify_ground_truth(worktree: Path, base: str, *, expect_changes: bool = True) -> GroundTruth:
    """What git says about the worktree, and the problem that makes it not done (if any)."""
    status = _git(worktree, "status", "--porcelain", "--untracked-files=all")
    if status.returncode != 0:
        return GroundTruth(problem=f"git status failed in {worktree}: {status.stderr.strip()}")
    counted = _git(worktree, "rev-list", "--count", f"{base}..HEAD")
    if counted.returncode != 0:
        return GroundTruth(problem=f"cannot compare with {base}: {counted.stderr.strip()}")
    truth = GroundTruth(
        uncommitted=tuple(line for line in status.stdout.splitlines() if line.strip()),
        commits_beyond_base=int(counted.stdout.strip() or 0),
    )
    return truth.model_copy(update={"problem": _problem(truth, base, expect_changes)})
