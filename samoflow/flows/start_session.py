"""Create a session (or pick up an existing one) and run it: the deployment users trigger."""

from __future__ import annotations

from pathlib import Path
from typing import cast

from prefect import flow

from samoflow.agents.choice import choose_agent
from samoflow.blocks.agent_config import AgentConfig
from samoflow.flows.session import run_session_flow
from samoflow.prefect_api.results import unpersisted_results
from samoflow.project import load_config
from samoflow.session.spec import AgentKind, AgentSpec
from samoflow.session.state import SessionReport
from samoflow.session.store import create_session, find_session, session_files


@flow(name="samoflow-start-session", flow_run_name="start-{name}", **unpersisted_results())
def start_session_flow(
    repo: str,
    name: str,
    task: str = "",
    dive: str | None = None,
    agent: AgentKind | None = None,  # claude when its binary is found on this worker
    scenario: str | None = "full",
    agent_command: str | None = None,
    model: str | None = None,
    auto_approve: bool = False,
    agent_block: str | None = None,  # an AgentConfig block: the agent, model, timeout and key
) -> SessionReport:
    """On the worker that picked the run: the session folder and worktree live here."""
    config = load_config(Path(repo).resolve())
    if session_files(config.sessions, name).spec.exists():
        files = find_session(config.sessions, name)
    else:
        files = create_session(
            config, name=name, task=task, dive=dive, auto_approve_gates=auto_approve,
            agent=new_agent(agent, agent_command, scenario, model, agent_block),
        )
    return run_session_flow(str(files.root))


def new_agent(
    agent: AgentKind | None,
    command: str | None,
    scenario: str | None,
    model: str | None,
    block: str | None,
) -> AgentSpec:
    if block is not None:
        config = cast(AgentConfig, AgentConfig.load(block))  # sync context: not a coroutine
        return config.apply_to(AgentSpec(model=model, block=block))
    kind, command = choose_agent(agent, command)
    return AgentSpec(kind=kind, scenario=scenario, command=command, model=model)
