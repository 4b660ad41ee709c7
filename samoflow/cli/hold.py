"""`samoflow stop`, `pause` and `resume`: one session, a convoy's members, or all of them."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Annotated

import typer

from samoflow.cli.common import (
    USER_ERRORS,
    RepoOption,
    console,
    fail,
    project_config,
    reach_prefect,
    run_link,
    start_deployment_run,
)
from samoflow.convoy.record import ConvoyError, convoy_path, read_convoy
from samoflow.health.restart import launch_local
from samoflow.health.stop_pause import HoldOutcome, pause_session, resume_session, stop_sessions
from samoflow.project import ProjectConfig
from samoflow.serve.reach import Source
from samoflow.session.files import SessionFiles
from samoflow.session.store import all_sessions, find_session
from samoflow.settings import get_settings

SessionArg = Annotated[str | None, typer.Argument(help="The session (or use --convoy / --all).")]
ConvoyOption = Annotated[str | None, typer.Option("--convoy", help="Every member of a convoy.")]
AllOption = Annotated[bool, typer.Option("--all", help="Every session of the project.")]


def select_sessions(
    config: ProjectConfig, session: str | None, convoy: str | None, everything: bool
) -> list[SessionFiles]:
    if sum((session is not None, convoy is not None, everything)) != 1:
        fail("name exactly one: SESSION, --convoy NAME or --all")
    try:
        if session is not None:
            return [find_session(config.sessions, session)]
        if convoy is not None:
            record = read_convoy(convoy_path(config.sessions, convoy))
            return [SessionFiles(Path(member.session_dir)) for member in record.members]
    except (*USER_ERRORS, ConvoyError) as error:
        fail(str(error))
    return all_sessions(config.sessions)


def _who(command: str) -> str:
    return f"{getpass.getuser()} (`samoflow {command}`)"


def _print(outcomes: list[HoldOutcome]) -> None:
    for outcome in outcomes:
        colour = "green" if outcome.done else "yellow"
        console.print(f"{outcome.session}: [{colour}]{outcome.detail}[/]")


def stop(
    session: SessionArg = None,
    convoy: ConvoyOption = None,
    everything: AllOption = False,
    repo: RepoOption = Path("."),
) -> None:
    """End the running attempt now; worktree and branch stay. `samoflow run --session` resumes."""
    config = project_config(repo)
    targets = select_sessions(config, session, convoy, everything)
    _print(stop_sessions(targets, _who("stop"), get_settings(), release_gate))


def release_gate(files: SessionFiles) -> None:
    """Prefect loads only when a stopped session was paused at a gate."""
    reach_prefect()
    from samoflow.prefect_api.gates import release_paused_run

    release_paused_run(files)


def pause(
    session: SessionArg = None,
    convoy: ConvoyOption = None,
    everything: AllOption = False,
    repo: RepoOption = Path("."),
) -> None:
    """Let the running iteration finish, then start no new one until `samoflow resume`."""
    config = project_config(repo)
    settings = get_settings()
    targets = select_sessions(config, session, convoy, everything)
    _print([pause_session(files, _who("pause"), settings) for files in targets])


def resume(
    session: SessionArg = None,
    convoy: ConvoyOption = None,
    everything: AllOption = False,
    repo: RepoOption = Path("."),
) -> None:
    """Lift a stop or pause and start the session again (a deployment run when served)."""
    config = project_config(repo)
    targets = select_sessions(config, session, convoy, everything)
    for files in targets:
        outcome = resume_session(files, _who("resume"))
        _print([outcome])
        if outcome.done:
            console.print(f"  {start_again(files)}")


def start_again(files: SessionFiles) -> str:
    """A run of the session deployment when `samoflow up` serves, else a detached process."""
    route = reach_prefect()
    if route.source is Source.SERVED and route.api_url:
        run_id = start_deployment_run(
            route.api_url, "samoflow-session/session", {"session_dir": str(files.root)},
            files.name,
        )
        return f"deployment run {run_id}: {run_link(route.api_url, run_id)}"
    launched = launch_local(files)
    return f"orchestrator pid {launched.pid}, log {launched.log_path}"
