"""`--agent` and friends: the agent a new session gets (claude by default when found, an
AgentConfig block when named), or a message saying how to get one."""

from __future__ import annotations

from typing import Annotated

import typer

from samoflow.agents.choice import NoAgentError, choose_agent
from samoflow.agents.scenario import resolve_scenario_path
from samoflow.cli.common import fail, reach_prefect
from samoflow.session.spec import AgentKind, AgentSpec

# The options that say which agent a new session gets (shared by `run` and the demos).
AgentOption = Annotated[
    AgentKind | None,
    typer.Option(help="Which agent runs the iterations (default: claude, when found)."),
]
AgentCommandOption = Annotated[
    str | None, typer.Option(help="CLI line (command) or claude binary.")
]
ScenarioOption = Annotated[
    str | None, typer.Option(help="Scenario file or built-in name (scripted).")
]
ModelOption = Annotated[str | None, typer.Option(help="Model for the claude agent.")]
TimeoutOption = Annotated[float | None, typer.Option(help="Seconds per agent run.")]
AgentBlockOption = Annotated[
    str | None, typer.Option(help="An AgentConfig block: agent, model, timeout, key.")
]
VerboseOption = Annotated[bool, typer.Option(help="Show Prefect's own log lines too.")]


def agent_spec(
    agent: AgentKind | None,
    agent_command: str | None,
    scenario: str | None,
    model: str | None,
    timeout: float | None,
    block: str | None = None,
) -> AgentSpec:
    if block is not None:
        return block_spec(block, AgentSpec(model=model, timeout_seconds=timeout, block=block))
    try:
        agent, agent_command = choose_agent(agent, agent_command)
    except NoAgentError as error:
        fail(str(error))
    if agent is AgentKind.COMMAND and not agent_command:
        fail("--agent command needs --agent-command 'CLI ...'")
    if agent is AgentKind.SCRIPTED:
        scenario = str(resolve_scenario_path(scenario or "full"))
    return AgentSpec(
        kind=agent, command=agent_command, scenario=scenario, model=model, timeout_seconds=timeout
    )


def block_spec(name: str, base: AgentSpec) -> AgentSpec:
    """The agent an AgentConfig block names (checked now; read again before every attempt)."""
    reach_prefect(writes=False)  # the block lives on the Prefect the command talks to
    from samoflow.blocks.agent_config import AgentConfig

    try:
        block = AgentConfig.load(name)
    except ValueError as error:  # Prefect: "Unable to find block document named ..."
        fail(f"no AgentConfig block {name!r} ({error}); create it in the Prefect UI (Blocks)")
    assert isinstance(block, AgentConfig)
    return block.apply_to(base)
