"""`samoflow run`, `status`, `answer` and `demo-session`: one session from the terminal."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from samoflow.cli.agent_option import (
    AgentBlockOption,
    AgentCommandOption,
    AgentOption,
    ModelOption,
    ScenarioOption,
    TimeoutOption,
    VerboseOption,
    agent_spec,
)
from samoflow.cli.common import (
    USER_ERRORS,
    RepoOption,
    console,
    fail,
    project_config,
    reach_prefect,
    run_link,
    start_deployment_run,
    ui_hint,
)
from samoflow.cli.output import follow_session, prefect_logs_to, while_following
from samoflow.delivery.status import verification_of
from samoflow.health.lease import LeaseError, running_elsewhere
from samoflow.names import validate_slug
from samoflow.project import ProjectConfig, load_config
from samoflow.serve.reach import Route, Source
from samoflow.session.files import SessionFiles, is_session_dir
from samoflow.session.hold import lift_hold
from samoflow.session.repair import SpecMissingError, load_state_repaired
from samoflow.session.spec import AgentKind, AgentSpec, read_spec
from samoflow.session.state import Lifecycle, report_of
from samoflow.session.store import (
    create_session,
    creation_notes,
    find_session,
    new_session_files,
    require_task,
    unblock,
    unused_name,
)
from samoflow.settings import get_settings


def run_session_in_process(files: SessionFiles, verbose: bool = False) -> Route:
    """The session's flow run here, its terminal quiet; returns the API it went to."""
    route = reach_prefect()
    from samoflow.flows.session import (
        run_session_flow,  # Prefect loads only for commands that run flows
    )

    if not verbose:
        log = files.orchestrator_log
        console.print(f"Prefect's log: {log} (or --verbose)", highlight=False, soft_wrap=True)
    with (
        prefect_logs_to(None if verbose else files.orchestrator_log, until_exit=True),
        console.status(f"session {files.name} running (Ctrl-C stops; it resumes later)"),
    ):
        while_following(
            lambda stop: follow_session(files, stop), lambda: run_session_flow(str(files.root))
        )
    return route


def run(
    task: Annotated[str, typer.Argument(help="What the agent should do.")] = "",
    dive: Annotated[str | None, typer.Option(help="Topic to investigate first.")] = None,
    session: Annotated[
        str | None, typer.Option(help="Session name (resumes if it exists).")
    ] = None,
    repo: RepoOption = Path("."),
    agent: AgentOption = None,
    agent_command: AgentCommandOption = None,
    scenario: ScenarioOption = None,
    model: ModelOption = None,
    timeout: TimeoutOption = None,
    agent_block: AgentBlockOption = None,
    auto_approve: Annotated[bool, typer.Option(help="Pass human gates automatically.")] = False,
    local: Annotated[bool, typer.Option(help="Run here even when `samoflow up` serves.")] = False,
    verbose: VerboseOption = False,
    config_file: Annotated[
        Path | None, typer.Option("--config", help="samocode's .samocode file (its folders).")
    ] = None,
    task_option: Annotated[
        str | None, typer.Option("--task", help="The task (samocode's spelling).")
    ] = None,
) -> None:
    """Run one session to the end (or to a gate / a block); resumes an existing session.

    When `samoflow up` serves, the session becomes a deployment run: it shows in the UI and
    goes on after this terminal closes.
    """
    task = task_option or task

    def make_spec() -> AgentSpec:
        return agent_spec(agent, agent_command, scenario, model, timeout, agent_block)

    files = _session_to_run(config_file, repo, session, task, dive, make_spec, auto_approve)
    check_instructions(files)
    console.print(f"session [bold]{files.name}[/bold] in {files.root}", soft_wrap=True)
    route = reach_prefect()
    if route.source is Source.SERVED and route.api_url and not local:
        run_id = start_deployment_run(
            route.api_url, "samoflow-session/session", {"session_dir": str(files.root)}, files.name
        )
        console.print(f"deployment run {run_id}: {run_link(route.api_url, run_id)}")
        console.print("follow it with `samoflow status` or the UI; `--local` runs it here")
        return
    try:
        route = run_session_in_process(files, verbose)
    except (SpecMissingError, LeaseError) as error:  # deleted while it ran; held elsewhere
        fail(str(error))
    _report_run(files, route)


def _session_to_run(
    config_file: Path | None,
    repo: Path,
    session: str | None,
    task: str,
    dive: str | None,
    make_spec: Callable[[], AgentSpec],
    auto_approve: bool,
) -> SessionFiles:
    if config_file is not None:  # samocode's command line: its folders, its session names
        from samoflow.cli.samocode import samocode_session

        return samocode_session(
            config_file, session, task=task, dive=dive, agent=make_spec, auto_approve=auto_approve
        )
    return _open_or_create(project_config(repo), session, task, dive, make_spec, auto_approve)


def check_instructions(files: SessionFiles) -> None:
    """A prompt override or context file the project names must be readable before a run."""
    from samoflow.cli.prompt import next_agent_text
    from samoflow.loop.instructions import PromptError

    try:
        next_agent_text(files.root)
    except PromptError as error:
        fail(str(error))


def _open_or_create(
    config: ProjectConfig,
    session: str | None,
    task: str,
    dive: str | None,
    make_spec: Callable[[], AgentSpec],
    auto_approve: bool,
) -> SessionFiles:
    """The named session if it exists (resumed, a block lifted), else a new one: checked
    (name free, no old history, a task) before the agent is chosen and anything is created."""
    try:
        if session is not None and is_session_dir(config.sessions / validate_slug(session)):
            files = find_session(config.sessions, session)
            if not running_elsewhere(files, get_settings()):  # a live one repairs its own
                load_state_repaired(files)  # a broken history row must not stop the resume
            unblock(files, "resumed by `samoflow run` after a block")
            lift_hold(files, "`samoflow run`")  # a stopped or paused session goes on
            return files
        name = validate_slug(session) if session else unused_name(config.sessions, task)
        new_session_files(config, name)
        require_task(task)
        files = create_session(
            config, name=name, task=task, dive=dive, agent=make_spec(),
            auto_approve_gates=auto_approve,
        )
        for note in creation_notes(files):  # recorded in the history too
            console.print(f"[yellow]warning:[/yellow] {note}", soft_wrap=True)
        return files
    except (*USER_ERRORS, LeaseError) as error:  # LeaseError: an unreadable lease
        fail(str(error))


def _report_run(files: SessionFiles, route: Route) -> None:
    report = report_of(files)
    console.print(
        f"session {report.session}: [bold]{report.lifecycle}[/bold] in phase {report.phase} "
        f"after {report.iterations} iterations, ${report.usage.cost_usd:.4f}"
    )
    if report.reason:
        console.print(f"reason: {report.reason}", highlight=False, soft_wrap=True)
    verification = verification_of(files)
    console.print(f"verified: {verification.verified}", highlight=False)
    with contextlib.suppress(OSError, ValueError):  # a spec deleted mid-run was reported
        spec = read_spec(files.spec)  # where the work is: what a user opens next
        console.print(
            f"work: branch {spec.branch} in {spec.working_dir}", highlight=False, soft_wrap=True
        )
    if verification.pull_request_url:
        console.print(
            f"pull request: {verification.pull_request_url}", highlight=False, soft_wrap=True
        )
    if report.lifecycle is Lifecycle.BLOCKED:
        console.print(
            f"next: fix the cause, then `samoflow run --session {report.session}`; the agent's "
            f"output is in {files.logs}",
            highlight=False,
            soft_wrap=True,
        )
    if report.lifecycle is Lifecycle.WAITING:
        console.print(f"answer with: samoflow answer {report.session} --text '...'")
    console.print(f"Prefect UI: {ui_hint(route)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code=0 if report.lifecycle is Lifecycle.DONE else 1)


def demo(
    where: Annotated[Path, typer.Option(help="Folder for the throwaway project.")] = Path(
        "demo-output"
    ),
    verbose: Annotated[bool, typer.Option(help="Show Prefect's own log lines too.")] = False,
    config_file: Annotated[
        Path | None, typer.Option("--config", help="samocode's .samocode file (its folders).")
    ] = None,
    task_option: Annotated[
        str | None, typer.Option("--task", help="The task (samocode's spelling).")
    ] = None,
) -> None:
    """Run one scripted session through every phase on a throwaway repository."""
    from samoflow.cli.demo import make_demo_project

    project = make_demo_project(where.resolve(), checks=True)
    config = load_config(project)
    files = create_session(
        config,
        name="greeting",
        task="Add a greeting function with a test",
        dive="the src package",
        agent=agent_spec(AgentKind.SCRIPTED, None, "full", None, None),
        auto_approve_gates=True,
    )
    console.print(f"demo project: {project}")
    route = run_session_in_process(files, verbose)
    report = report_of(files)
    commits = git_log(project, f"{config.base_branch or 'main'}..samoflow/{files.name}")
    console.print(
        f"\n[bold]session {report.session}: {report.lifecycle}[/bold] after "
        f"{report.iterations} iterations ({report.summary})"
    )
    console.print(f"verified:        {verification_of(files).verified} (the project's checks)")
    console.print(f"commits on samoflow/{files.name}:\n{commits}")
    console.print(f"session folder:  {files.root}")
    console.print(f"worktree:        {config.worktrees / files.name}")
    console.print("history:         _signal_history.jsonl, hook: _hook.json, logs: _logs/")
    console.print(f"Prefect UI:      {ui_hint(route)}", highlight=False, soft_wrap=True)
    if report.lifecycle is not Lifecycle.DONE:
        raise typer.Exit(code=1)


def git_log(repo: Path, revisions: str) -> str:
    import git

    return str(git.Repo(repo).git.log("--oneline", revisions))
