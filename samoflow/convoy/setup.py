"""Turn a plan (or a coordinator's worker request) into sessions, worktrees and a convoy record.

Idempotent and crash-safe: sessions are created before the record names them, an existing
session of the same convoy is reused, and an existing record keeps its id and its members'
states. A session that exists but belongs to something else is refused, never adopted.
"""

from __future__ import annotations

from pathlib import Path

from samoflow.agents.scenario import resolve_scenario_path
from samoflow.convoy.plan import ConvoyPlan, PlannedSession, load_plan
from samoflow.convoy.record import (
    ConvoyError,
    ConvoyMember,
    ConvoyRecord,
    convoy_path,
    integration_branch,
    read_convoy,
    worker_convoy_path,
    write_convoy,
)
from samoflow.project import ProjectConfig, load_config
from samoflow.session.files import CONVOYS_DIR, SessionFiles
from samoflow.session.signals import WorkerRequest, read_signal
from samoflow.session.spec import AgentKind, AgentSpec, Role, read_spec
from samoflow.session.store import create_session, session_files, worker_files
from samoflow.workspace.worktrees import current_branch, open_repo


def _agent_of(planned: PlannedSession) -> AgentSpec:
    if planned.agent is AgentKind.COMMAND and not planned.agent_command:
        raise ConvoyError(f"session {planned.name}: agent 'command' needs agent_command")
    scenario = None
    if planned.agent is AgentKind.SCRIPTED:
        scenario = str(resolve_scenario_path(planned.scenario or "full"))
    return AgentSpec(
        kind=planned.agent,
        command=planned.agent_command,
        scenario=scenario,
        model=planned.model,
        timeout_seconds=planned.timeout_seconds,
        account=planned.account,
    )


def _session_for(
    config: ProjectConfig, planned: PlannedSession, convoy: str, base: str
) -> SessionFiles:
    """The planned session, created once; on a re-run, the same one if it is ours."""
    files = session_files(config.sessions, planned.name)
    if files.spec.exists():
        owner = read_spec(files.spec).convoy
        if owner != convoy:
            raise ConvoyError(
                f"session {planned.name} already exists and belongs to "
                f"{'convoy ' + owner if owner else 'no convoy'}: rename it in the plan"
            )
        return files
    return create_session(
        config,
        name=planned.name,
        task=planned.task,
        dive=planned.dive,
        agent=_agent_of(planned),
        auto_approve_gates=planned.auto_approve,
        convoy=convoy,
        base_branch=base,
        checks=planned.checks,
        changes_nothing=planned.changes_nothing,
    )


def _member(files: SessionFiles) -> ConvoyMember:
    spec = read_spec(files.spec)
    return ConvoyMember(name=spec.name, session_dir=str(files.root), branch=spec.branch)


def _merge_members(
    record: ConvoyRecord | None, members: list[ConvoyMember]
) -> tuple[ConvoyMember, ...]:
    """Known members keep their state; new ones are appended in plan order."""
    known = {m.name: m for m in record.members} if record is not None else {}
    added = [m for m in members if m.name not in known]
    return (*known.values(), *added)


def prepare_plan(
    plan_file: Path, repo: Path, default_concurrency: int
) -> tuple[Path, ConvoyRecord]:
    """The one way a plan file becomes a convoy: sessions, worktrees and a record in the project
    (`<sessions>/_convoys/<name>.json`). The convoy flow only ever runs such a record."""
    return open_plan_convoy(load_plan(plan_file), load_config(repo.resolve()), default_concurrency)


def open_plan_convoy(
    plan: ConvoyPlan, config: ProjectConfig, default_concurrency: int
) -> tuple[Path, ConvoyRecord]:
    """`<sessions>/_convoys/<name>.json` for `plan`, with every session and worktree ready."""
    path = convoy_path(config.sessions, plan.name)
    existing = read_convoy(path) if path.exists() else None
    if existing is not None and existing.notice is not None:
        new = {s.name for s in plan.sessions} - {m.name for m in existing.members}
        if new:
            raise ConvoyError(
                f"convoy {plan.name} is finished; plan the new sessions in a new convoy"
            )
        return path, existing
    base = (
        (existing.base_branch if existing else None)
        or plan.base_branch
        or config.base_branch
        or current_branch(open_repo(config.main_repo))
    )
    members = [_member(_session_for(config, s, plan.name, base)) for s in plan.sessions]
    record = ConvoyRecord(
        **({"id": existing.id, "created_at": existing.created_at} if existing else {}),
        name=plan.name,
        repo=str(config.main_repo),
        sessions_root=str(config.sessions),
        base_branch=base,
        integration_branch=integration_branch(plan.name),
        integration_worktree=str(config.worktrees / CONVOYS_DIR / plan.name),
        concurrency=plan.concurrency or default_concurrency,
        notify_on_complete=plan.notify_on_complete,
        members=_merge_members(existing, members),
        notice=existing.notice if existing else None,
    )
    write_convoy(path, record)
    return path, record


def requested_workers(files: SessionFiles) -> tuple[WorkerRequest, ...]:
    """The workers the last recorded iteration's signal asked for (none mid-iteration)."""
    if files.journal.exists() or not files.signal.exists():
        return ()
    reading = read_signal(files.signal)
    return reading.signal.workers if reading.signal is not None else ()


def _worker_agent(coordinator: AgentSpec, request: WorkerRequest) -> AgentSpec:
    if coordinator.kind is AgentKind.SCRIPTED and request.scenario:
        return coordinator.model_copy(
            update={"scenario": str(resolve_scenario_path(request.scenario))}
        )
    return coordinator


def open_worker_convoy(
    coordinator: SessionFiles, requests: tuple[WorkerRequest, ...], default_concurrency: int
) -> tuple[Path, ConvoyRecord]:
    """`<coordinator>/workers/_convoy.json`: the requested workers, branched off its branch."""
    spec = read_spec(coordinator.spec)
    if spec.role is not Role.COORDINATOR:
        raise ConvoyError(f"{spec.name} is a {spec.role}: only a coordinator can ask for workers")
    config = load_config(Path(spec.repo))
    path = worker_convoy_path(coordinator)
    existing = read_convoy(path) if path.exists() else None
    members = [
        _member(_worker_for(config, coordinator, spec.agent, request)) for request in requests
    ]
    name = f"{spec.name}--workers"
    record = ConvoyRecord(
        **({"id": existing.id, "created_at": existing.created_at} if existing else {}),
        name=name,
        repo=spec.repo,
        sessions_root=str(config.sessions),
        base_branch=spec.branch,
        integration_branch=integration_branch(name),
        integration_worktree=str(config.worktrees / CONVOYS_DIR / name),
        concurrency=default_concurrency,
        notify_on_complete=False,  # the coordinator reads the results; humans get its notices
        owner=str(coordinator.root),
        members=_merge_members(existing, members),
    )
    write_convoy(path, record)
    return path, record


def _worker_for(
    config: ProjectConfig, coordinator: SessionFiles, agent: AgentSpec, request: WorkerRequest
) -> SessionFiles:
    files = worker_files(coordinator, request.name)
    if files.spec.exists():
        return files
    return create_session(
        config,
        name=request.name,
        task=request.task,
        dive=request.dive,
        agent=_worker_agent(agent, request),
        auto_approve_gates=read_spec(coordinator.spec).auto_approve_gates,
        convoy=f"{coordinator.name}--workers",
        parent=coordinator,
    )
