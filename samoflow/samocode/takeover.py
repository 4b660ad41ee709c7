"""Taking over a session folder samocode ran: its overview and rows are read, never rewritten."""

from __future__ import annotations

import re

from samoflow.project import ProjectConfig
from samoflow.session.files import SessionFiles
from samoflow.session.history import read_history
from samoflow.session.overview import read_overview
from samoflow.session.phases import parse_phase
from samoflow.session.spec import AgentSpec, SessionSpec, write_spec
from samoflow.workspace.worktrees import (
    current_branch,
    ensure_worktree,
    open_repo,
    registered_worktrees,
)

TASK_SECTION = re.compile(r"^##\s+Task\s*$\n(.*?)(?=^##\s|\Z)", re.MULTILINE | re.DOTALL)


class TakeOverError(ValueError):
    """A folder that is not a samocode session samoflow can carry on."""


def is_samocode_session(files: SessionFiles) -> bool:
    """samocode's files without samoflow's `_session.json`."""
    return not files.spec.exists() and (files.overview.exists() or files.history.exists())


def task_of(overview_text: str) -> str:
    match = TASK_SECTION.search(overview_text)
    return match.group(1).strip() if match else ""


def _worktree(config: ProjectConfig, name: str) -> tuple[str, str, str]:
    """samocode's worktree `WORKTREES/<session>` when its init made one, else a new one."""
    repo = open_repo(config.main_repo)
    base = config.base_branch or current_branch(repo)
    path = (config.worktrees / name).resolve()
    branch = registered_worktrees(repo).get(path)
    if branch is None:
        branch = f"samoflow/{name}"
        ensure_worktree(repo, path, branch, base)
    return str(path), branch, base


def take_over(
    config: ProjectConfig,
    files: SessionFiles,
    agent: AgentSpec,
    *,
    task: str | None = None,
    auto_approve_gates: bool = False,
) -> SessionSpec:
    """Write `_session.json` for samocode's folder; the phase stays the overview's."""
    status = read_overview(files.overview)
    text = files.overview.read_text(encoding="utf-8", errors="replace") if status else ""
    if status is not None and status.phase and parse_phase(status.phase) is None:
        raise TakeOverError(
            f"{files.overview} stands at unknown phase {status.phase!r}; samocode stops there too"
        )
    read_history(files.history)  # refuses an unreadable history before anything is written
    the_task = (task or "").strip() or task_of(text)
    if not the_task:
        raise TakeOverError(f"{files.overview} has no `## Task` section; give one with --task")
    working_dir, branch, base = _worktree(config, files.name)
    spec = SessionSpec(
        name=files.name,
        task=the_task,
        repo=str(config.main_repo),
        working_dir=working_dir,
        branch=branch,
        base_branch=base,
        agent=agent,
        auto_approve_gates=auto_approve_gates,
        taken_over_from="samocode",
    )
    write_spec(files.spec, spec)
    return spec
