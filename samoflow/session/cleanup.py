"""`samoflow clean`: remove session worktrees on request, only when nothing can be lost.

Verify, then act: a worktree is removable only when its session is finished (done or
blocked), no agent runs in it, it holds no uncommitted or untracked work, and every commit
of its branch is on the base branch or on a convoy integration branch. The check runs again
right before removal, and `git worktree remove` (without --force) refuses a dirty tree too.
Branches are never deleted: they are the record of the work.
"""

from __future__ import annotations

from pathlib import Path

import git
from pydantic import BaseModel, ConfigDict

from samoflow.session.files import SessionFiles
from samoflow.session.journal import process_alive, read_journal
from samoflow.session.spec import read_spec
from samoflow.session.state import Lifecycle, load_state
from samoflow.workspace.worktrees import worktree_lock

FINISHED = (Lifecycle.DONE, Lifecycle.BLOCKED)


class CleanupCheck(BaseModel):
    model_config = ConfigDict(frozen=True)

    session: str
    worktree: str
    exists: bool
    reasons: tuple[str, ...] = ()  # why it must stay; empty: removable

    @property
    def removable(self) -> bool:
        return self.exists and not self.reasons


def _unmerged_commits(repo: git.Repo, branch: str, base: str) -> int:
    keep = [base, *(h.name for h in repo.heads if h.name.startswith("samoflow/convoy/"))]
    return len(repo.git.rev_list(branch, "--not", *keep).split())


def _live_agent(files: SessionFiles) -> bool:
    journal = read_journal(files.journal)
    return journal is not None and process_alive(journal.agent_pid, journal.agent_started)


def check_worktree(files: SessionFiles) -> CleanupCheck:
    spec = read_spec(files.spec)
    worktree = Path(spec.working_dir)
    if not worktree.exists():
        return CleanupCheck(session=spec.name, worktree=str(worktree), exists=False)
    reasons = []
    lifecycle = load_state(files).lifecycle
    if lifecycle not in FINISHED:
        reasons.append(f"the session is {lifecycle}: it still needs its worktree")
    if _live_agent(files):
        reasons.append("an agent process is running in it")
    tree = git.Repo(worktree)
    if tree.is_dirty(untracked_files=True):
        reasons.append("it holds uncommitted or untracked work")
    unmerged = _unmerged_commits(git.Repo(spec.repo), spec.branch, spec.base_branch)
    if unmerged:
        reasons.append(
            f"{unmerged} commit(s) of {spec.branch} are on neither {spec.base_branch} "
            "nor a convoy integration branch"
        )
    return CleanupCheck(
        session=spec.name, worktree=str(worktree), exists=True, reasons=tuple(reasons)
    )


def remove_worktree(files: SessionFiles) -> CleanupCheck:
    """Remove the worktree if the check passes now; the returned check says what happened."""
    check = check_worktree(files)
    if not check.removable:
        return check
    repo = git.Repo(read_spec(files.spec).repo)
    with worktree_lock(repo):  # never while another process adds or prunes worktrees
        repo.git.worktree("remove", check.worktree)
    return check


def check_integration_worktree(worktree: Path, complete: bool, name: str) -> CleanupCheck:
    """A convoy's integration worktree: removable once the convoy is over and it is clean."""
    if not worktree.exists():
        return CleanupCheck(session=f"convoy {name}", worktree=str(worktree), exists=False)
    reasons = []
    if not complete:
        reasons.append("the convoy is still running: it merges there")
    if git.Repo(worktree).is_dirty(untracked_files=True):
        reasons.append("it holds uncommitted or untracked work (a merge left behind?)")
    return CleanupCheck(
        session=f"convoy {name}", worktree=str(worktree), exists=True, reasons=tuple(reasons)
    )


def remove_integration_worktree(
    repo: Path, worktree: Path, complete: bool, name: str
) -> CleanupCheck:
    check = check_integration_worktree(worktree, complete, name)
    if check.removable:
        main = git.Repo(repo)
        with worktree_lock(main):
            main.git.worktree("remove", str(worktree))
    return check
