"""`samoflow prompt SESSION`: exactly what the next agent will be told, without running it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from samoflow.cli.common import USER_ERRORS, RepoOption, fail, project_config
from samoflow.delivery.gate import pending_red
from samoflow.inbox.files import unread_messages
from samoflow.loop.instructions import PromptError, instructions_for, sources_for
from samoflow.loop.iteration import IterationPlan, next_hook
from samoflow.loop.prompting import build_prompt
from samoflow.session.files import SessionFiles
from samoflow.session.handoff import pending_handoff
from samoflow.session.spec import read_spec
from samoflow.session.state import load_state
from samoflow.session.store import find_session


def next_agent_text(session_dir: Path) -> tuple[str, str]:
    """(instructions, prompt) for the session's next iteration, first attempt."""
    files = SessionFiles(session_dir)
    spec = read_spec(files.spec)
    state = load_state(files)
    plan = IterationPlan(iteration=state.next_iteration, phase=state.phase)
    hook = next_hook(files, spec, state, plan, 1, unread_messages(files))
    instructions = instructions_for(state.phase, spec.role.value, sources_for(spec))
    red = pending_red(state.entries)
    prompt = build_prompt(spec, hook, str(files.root), pending_handoff(files.handoff), red)
    return instructions, prompt


def prompt(
    session: Annotated[str, typer.Argument(help="The session whose next agent to show.")],
    repo: RepoOption = Path("."),
    config_file: Annotated[
        Path | None, typer.Option("--config", help="samocode's .samocode file (its folders).")
    ] = None,
) -> None:
    """Print the instructions (system prompt) and the prompt of the session's next agent."""
    try:
        if config_file is not None:
            from samoflow.samocode.config import load_samocode_config, resolve_session_name

            sessions = load_samocode_config(config_file).sessions
            files = find_session(sessions, resolve_session_name(sessions, session))
        else:
            files = find_session(project_config(repo).sessions, session)
        instructions, text = next_agent_text(files.root)
    except (*USER_ERRORS, PromptError) as error:
        fail(str(error))
    typer.echo("=== instructions (appended to the agent's system prompt) ===")
    typer.echo(instructions)
    typer.echo("=== prompt ===")
    typer.echo(text, nl=False)
