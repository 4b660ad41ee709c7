"""The session store: create, find and open sessions; record what humans decide for them."""

from __future__ import annotations

from pathlib import Path

from samoflow.names import slugify, validate_slug
from samoflow.project import ProjectConfig
from samoflow.session.files import SessionFiles, is_session_dir
from samoflow.session.gate import GateAnswer, clear_gate, read_gate, write_gate
from samoflow.session.history import (
    EntryKind,
    HistoryEntry,
    Outcome,
    append_entry,
    read_history,
    system_entry,
)
from samoflow.session.overview import update_overview
from samoflow.session.phases import rule_for
from samoflow.session.qa import record_answer
from samoflow.session.repair import has_old_history, spec_missing_message
from samoflow.session.roles import decide_role, role_from_path
from samoflow.session.spec import AgentSpec, Role, SessionSpec, read_spec, write_spec
from samoflow.session.state import Lifecycle, load_state
from samoflow.workspace.ground_truth import base_of, unseen_changes_warning
from samoflow.workspace.worktrees import current_branch, ensure_worktree, open_repo

# `samoflow/convoy/<name>` is the integration branch: a session named `convoy` would own the
# ref `samoflow/convoy` and git could not create both.
RESERVED_NAMES = frozenset({"convoy"})
# Workers are named `<coordinator>--<worker>` (branch and worktree): top-level names avoid it.
WORKER_SEPARATOR = "--"


class SessionError(ValueError):
    """A session that cannot be found, created or changed as asked."""


def session_files(sessions_root: Path, name: str) -> SessionFiles:
    validate_slug(name)
    root = (sessions_root / name).resolve()
    if root.parent != sessions_root.resolve():
        raise SessionError(f"session {name!r} would live outside {sessions_root}")
    return SessionFiles(root)


def worker_files(parent: SessionFiles, name: str) -> SessionFiles:
    """`<parent>/workers/<name>/`: the same slug rules, and never outside `workers/`."""
    validate_slug(name, "worker name")
    workers = parent.workers.resolve()
    root = (workers / name).resolve()
    if root.parent != workers:
        raise SessionError(f"worker {name!r} would live outside {workers}")
    return SessionFiles(root)


def find_session(sessions_root: Path, name: str) -> SessionFiles:
    files = session_files(sessions_root, name)
    if not files.spec.exists() and has_old_history(files):
        raise SessionError(spec_missing_message(files))
    if not files.spec.exists():
        known = ", ".join(list_sessions(sessions_root)) or "none"
        raise SessionError(f"unknown session {name!r} in {sessions_root} (known: {known})")
    return files


def list_sessions(sessions_root: Path) -> list[str]:
    if not sessions_root.is_dir():
        return []
    return sorted(p.name for p in sessions_root.iterdir() if is_session_dir(p))


def all_sessions(sessions_root: Path) -> list[SessionFiles]:
    """Every session under the root: the top-level ones and each one's workers."""
    found = []
    for name in list_sessions(sessions_root):
        files = SessionFiles(sessions_root / name)
        found += [files, *worker_sessions(files)]
    return found


def worker_sessions(coordinator: SessionFiles) -> list[SessionFiles]:
    """The sessions under `<coordinator>/workers/`, in name order."""
    if not coordinator.workers.is_dir():
        return []
    return [SessionFiles(p) for p in sorted(coordinator.workers.iterdir()) if is_session_dir(p)]


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
    role: Role | None = None,
    convoy: str | None = None,
    parent: SessionFiles | None = None,
    base_branch: str | None = None,
    checks: tuple[str, ...] | None = None,
    changes_nothing: bool = False,
) -> SessionFiles:
    """A new session folder and its worktree on branch `samoflow/<name>`.

    With `parent`, a worker under `<parent>/workers/<name>/`, branched off the parent's
    branch. The role comes from the folder unless `role` is given (a mismatch is recorded).
    """
    files = new_session_files(config, name, parent)
    require_task(task)
    qualified = files.name if parent is None else f"{parent.name}{WORKER_SEPARATOR}{name}"
    repo = open_repo(config.main_repo)
    base = base_branch or _parent_branch(parent) or config.base_branch or current_branch(repo)
    branch = f"samoflow/{qualified}"
    worktree = ensure_worktree(repo, config.worktrees / qualified, branch, base)
    files.root.mkdir(parents=True, exist_ok=True)
    decision = decide_role(config.sessions, files.root, role)
    spec = SessionSpec(
        name=qualified, task=task.strip(), dive=dive, repo=str(config.main_repo),
        working_dir=str(worktree), branch=branch, base_branch=base,
        base_commit=base_of(repo, branch, base), role=decision.role, convoy=convoy, agent=agent,
        auto_approve_gates=auto_approve_gates, checks=checks, changes_nothing=changes_nothing,
    )
    write_spec(files.spec, spec)
    for note in [decision.warning, unseen_changes_warning(repo, base)]:
        if note:
            _record_system_note(files, note)
    return files


def refuse_files_in_the_way(name: str, *folders: Path) -> None:
    """A session's folders must be folders: a file there is refused before anything is made."""
    for folder in folders:
        for place in (folder, folder.parent):
            if place.exists() and not place.is_dir():
                raise SessionError(
                    f"cannot create session {name!r}: {place} is a file, not a folder; "
                    "pick another name or move the file away"
                )


def creation_notes(files: SessionFiles) -> list[str]:
    """What samoflow recorded while creating the session (warnings the user should see)."""
    return [
        e.summary
        for e in read_history(files.history)
        if e.kind is EntryKind.SYSTEM and e.iteration == 0 and e.summary
    ]


def require_task(task: str) -> str:
    if not task.strip():
        raise SessionError("the task is empty: say what the agent should do")
    return task.strip()


def new_session_files(
    config: ProjectConfig, name: str, parent: SessionFiles | None = None
) -> SessionFiles:
    """Where a new session `name` would live; refused when a session (or its history) is there."""
    files = _new_session_files(config, name, parent)
    qualified = files.name if parent is None else f"{parent.name}{WORKER_SEPARATOR}{name}"
    refuse_files_in_the_way(name, files.root, config.worktrees / qualified)
    if files.spec.exists():
        raise SessionError(f"session {name!r} already exists; resume it with --session {name}")
    if has_old_history(files):
        # A new task must never take over another session's history and overview.
        raise SessionError(f"refusing a new task over old history: {spec_missing_message(files)}")
    return files


def _new_session_files(
    config: ProjectConfig, name: str, parent: SessionFiles | None
) -> SessionFiles:
    if parent is not None:
        if role_from_path(config.sessions, parent.root) is not Role.COORDINATOR:
            raise SessionError(f"{parent.name} is not a top-level session: workers do not nest")
        return worker_files(parent, name)
    if name in RESERVED_NAMES or WORKER_SEPARATOR in name:
        raise SessionError(
            f"session name {name!r} is reserved (not `convoy`, no `--`: workers use it)"
        )
    return session_files(config.sessions, name)


def _parent_branch(parent: SessionFiles | None) -> str | None:
    return read_spec(parent.spec).branch if parent is not None else None


def _record_system_note(files: SessionFiles, note: str) -> None:
    append_entry(files.history, system_entry(0, "init", summary=note))


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
    append_entry(files.history, system_entry(state.last_iteration, state.phase.value, summary=note))
