"""The session store: create, find and open sessions; record what humans decide for them."""

from __future__ import annotations

from pathlib import Path

from samoflow.gate import GateAnswer, clear_gate, read_gate, write_gate
from samoflow.history import EntryKind, HistoryEntry, Outcome, append_entry
from samoflow.names import slugify, validate_slug
from samoflow.overview import update_overview
from samoflow.phases import rule_for
from samoflow.project import ProjectConfig
from samoflow.qa import record_answer
from samoflow.session_files import SessionFiles
from samoflow.session_state import Lifecycle, load_state
from samoflow.spec import AgentSpec, Role, SessionSpec, read_spec, write_spec
from samoflow.worktrees import current_branch, ensure_worktree, open_repo


class SessionError(ValueError):
    """A session that cannot be found, created or changed as asked."""


def session_files(sessions_root: Path, name: str) -> SessionFiles:
    validate_slug(name)
    root = (sessions_root / name).resolve()
    if root.parent != sessions_root.resolve():
        raise SessionError(f"session {name!r} would live outside {sessions_root}")
    return SessionFiles(root)


def find_session(sessions_root: Path, name: str) -> SessionFiles:
    files = session_files(sessions_root, name)
    if not files.spec.exists():
        known = ", ".join(list_sessions(sessions_root)) or "none"
        raise SessionError(f"unknown session {name!r} in {sessions_root} (known: {known})")
    return files


def list_sessions(sessions_root: Path) -> list[str]:
    if not sessions_root.is_dir():
        return []
    return sorted(p.name for p in sessions_root.iterdir() if (p / "_session.json").exists())


def unused_name(sessions_root: Path, task: str) -> str:
    base = slugify(task)
    name, counter = base, 2
    while (sessions_root / name).exists():
        name, counter = f"{base}-{counter}", counter + 1
    return name


def create_session(
    config: ProjectConfig,
    *,
    name: str,
    task: str,
    dive: str | None,
    agent: AgentSpec,
    auto_approve_gates: bool = False,
    role: Role = Role.COORDINATOR,
    convoy: str | None = None,
) -> SessionFiles:
    """A new session folder and its worktree on branch `samoflow/<name>`."""
    if not task.strip():
        raise SessionError("the task is empty: say what the agent should do")
    files = session_files(config.sessions, name)
    if files.spec.exists():
        raise SessionError(f"session {name!r} already exists; resume it with --session {name}")
    repo = open_repo(config.main_repo)
    base = config.base_branch or current_branch(repo)
    branch = f"samoflow/{name}"
    worktree = ensure_worktree(repo, config.worktrees / name, branch, base)
    files.root.mkdir(parents=True, exist_ok=True)
    write_spec(
        files.spec,
        SessionSpec(
            name=name,
            task=task.strip(),
            dive=dive,
            repo=str(config.main_repo),
            working_dir=str(worktree),
            branch=branch,
            base_branch=base,
            role=role,
            convoy=convoy,
            agent=agent,
            auto_approve_gates=auto_approve_gates,
        ),
    )
    return files


def open_spec(files: SessionFiles) -> SessionSpec:
    return read_spec(files.spec)


def record_gate_answer(files: SessionFiles, answer: GateAnswer) -> HistoryEntry:
    """Apply a human's answer: Q&A file, history, and the phase move an approval makes."""
    state = load_state(files)
    if state.lifecycle is not Lifecycle.WAITING:
        raise SessionError(f"session {files.name} is {state.lifecycle}, not waiting for an answer")
    rule = rule_for(state.phase)
    moves_on = answer.approve and rule.gated and bool(rule.next_phases)
    next_phase = rule.next_phases[0] if moves_on else state.phase
    record_answer(files.qa, answer, state.last_iteration, state.phase.value)
    entry = HistoryEntry(
        kind=EntryKind.ANSWER,
        iteration=state.last_iteration,
        phase=state.phase.value,
        outcome=Outcome.ANSWERED,
        next_phase=next_phase.value,
        summary=answer.text[:500],
        reason=None if answer.approve else "not approved",
    )
    append_entry(files.history, entry)
    update_overview(files.overview, phase=next_phase.value)
    clear_gate(files.gate)
    return entry


def leave_answer(files: SessionFiles, answer: GateAnswer) -> str | None:
    """Store an answer for the paused run to pick up; returns that run's id, if any."""
    gate = read_gate(files.gate)
    if gate is None:
        raise SessionError(f"session {files.name} is not waiting for an answer")
    write_gate(files.gate, gate.model_copy(update={"answer": answer}))
    return gate.flow_run_id


def unblock(files: SessionFiles, note: str) -> None:
    """A human resumes a blocked session: recorded, the phase unchanged."""
    state = load_state(files)
    if state.lifecycle is not Lifecycle.BLOCKED:
        return
    append_entry(
        files.history,
        HistoryEntry(
            kind=EntryKind.SYSTEM,
            iteration=state.last_iteration,
            phase=state.phase.value,
            outcome=Outcome.CONTINUE,
            next_phase=state.phase.value,
            summary=note,
        ),
    )
