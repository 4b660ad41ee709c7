"""A session's git ground truth from its spec: checked before each attempt and each merge.

Repairs before an attempt are recorded in the history (the CLI prints them); the base a
session from before `base_commit` existed is checked against is recorded in its spec.
"""

from __future__ import annotations

from pathlib import Path

from samoflow.session.files import SessionFiles
from samoflow.session.history import append_entry, system_entry
from samoflow.session.spec import SessionSpec, read_spec, write_spec
from samoflow.session.state import load_state
from samoflow.workspace.ground_truth import GitTruth, SessionGit, verify_session_git


def session_git(files: SessionFiles, spec: SessionSpec) -> SessionGit:
    return SessionGit(
        repo=Path(spec.repo),
        worktree=Path(spec.working_dir),
        branch=spec.branch,
        base_branch=spec.base_branch,
        base_commit=spec.base_commit,
        resume_hint=f"resume with `samoflow run --session {files.name}`",
    )


def verify_before_attempt(files: SessionFiles) -> GitTruth:
    """Worktree, branch and base as they must be, or `GitTruthError`: no agent runs then."""
    spec = read_spec(files.spec)
    truth = verify_session_git(session_git(files, spec))
    _remember_base(files, spec, truth)
    if truth.repairs:
        state = load_state(files)
        for repair in truth.repairs:
            entry = system_entry(state.last_iteration, state.phase.value, summary=repair)
            append_entry(files.history, entry)
    return truth


def verify_before_merge(files: SessionFiles) -> GitTruth:
    """The branch to merge exists (recovered if it can be) and descends from the base."""
    spec = read_spec(files.spec)
    truth = verify_session_git(session_git(files, spec), need_worktree=False)
    _remember_base(files, spec, truth)
    return truth


def _remember_base(files: SessionFiles, spec: SessionSpec, truth: GitTruth) -> None:
    if spec.base_commit is None:
        write_spec(files.spec, spec.model_copy(update={"base_commit": truth.base_commit}))
