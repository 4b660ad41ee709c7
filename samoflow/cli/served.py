"""`samoflow up` and `samoflow down`: serve samoflow on a local Prefect server."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from pydantic import BaseModel, ConfigDict
from rich.console import Console

from samoflow.serve.local import (
    AGENT_LIMIT,
    BLOCK_MODULES,
    SERVER_DEADLINE_SECONDS,
    WORK_POOL,
    ServedError,
    Started,
    UpState,
    _prefect,
    default_home,
    forget_up,
    healthy,
    prefect_env,
    read_up,
    run_step,
    save_up,
    start_detached,
    stop,
    wait_for,
)

console = Console()


def up(
    repo: Annotated[Path, typer.Option(help="The project the monitor watches.")] = Path("."),
    port: Annotated[int, typer.Option(help="Port of the local Prefect server.")] = 4200,
    workers: Annotated[int, typer.Option(help="Process workers to start.")] = 1,
    home: Annotated[Path | None, typer.Option(help="Where samoflow keeps pids and logs.")] = None,
    database_url: Annotated[
        str | None, typer.Option(help="Server database, e.g. postgresql+asyncpg://...")
    ] = None,
    max_agents: Annotated[int, typer.Option(help="Agents running at once, all workers.")] = 4,
    own_roots: Annotated[
        bool, typer.Option(help="Each worker keeps its own sessions and worktrees roots.")
    ] = False,
    worker_limit: Annotated[
        int | None, typer.Option(help="Flow runs one worker takes at once (default: any).")
    ] = None,
) -> None:
    """Start (or find) a Prefect server, create the pool, deploy, register blocks, start workers."""
    home = (home or default_home()).resolve()
    current = read_up(home)
    if current is not None and healthy(current.api_url):
        console.print(f"already up: {current.ui_url} (stop with `samoflow down`)")
        return
    api_url = f"http://127.0.0.1:{port}/api"
    state = UpState(api_url=api_url, ui_url=f"http://127.0.0.1:{port}", repo=str(repo.resolve()))
    options = UpOptions(
        workers=workers,
        database_url=database_url,
        max_agents=max_agents,
        own_roots=own_roots,
        worker_limit=worker_limit,
    )
    try:
        state = _bring_up(state, home, options)
    except ServedError as error:
        console.print(f"[red]error:[/red] {error}", soft_wrap=True)
        console.print("what was started is recorded: `samoflow down` stops it")
        raise typer.Exit(code=2) from error
    console.print(f"samoflow is up: Prefect UI at [bold]{state.ui_url}[/bold]")
    console.print(f"  PREFECT_API_URL={state.api_url}   logs: {home / 'logs'}")


class UpOptions(BaseModel):
    model_config = ConfigDict(frozen=True)

    workers: int
    database_url: str | None
    max_agents: int
    own_roots: bool
    worker_limit: int | None


def _bring_up(state: UpState, home: Path, options: UpOptions) -> UpState:
    env = prefect_env(
        state.api_url,
        {"SAMOFLOW_REPO": state.repo, "SAMOFLOW_AGENT_CONCURRENCY_LIMIT": AGENT_LIMIT},
    )
    with console.status("starting the Prefect server") as status:
        if not healthy(state.api_url):
            port = state.api_url.rsplit(":", 1)[1].split("/")[0]
            server_env = dict(env)
            # Proactive (stall) triggers are checked every second instead of every 5 s.
            server_env["PREFECT_SERVER_EVENTS_PROACTIVE_GRANULARITY"] = "PT1S"
            if options.database_url:
                server_env["PREFECT_API_DATABASE_CONNECTION_URL"] = options.database_url
            server = start_detached(
                "server",
                _prefect("server", "start", "--host", "127.0.0.1", "--port", port),
                server_env,
                home,
            )
            state = _record(home, state, server)
            wait_for(lambda: healthy(state.api_url), SERVER_DEADLINE_SECONDS, "the Prefect server")
        status.update("creating the work pool")
        pool = _prefect("work-pool", "create", WORK_POOL, "--type", "process")
        run_step("work pool", pool, env, ok_if="already exists")
        status.update("creating the agent concurrency limit")
        limit = _prefect(
            "global-concurrency-limit", "create", AGENT_LIMIT, "--limit", str(options.max_agents)
        )
        run_step("agent concurrency limit", limit, env, ok_if="already exists")
        status.update("registering blocks")
        for module in BLOCK_MODULES:
            run_step(f"block {module}", _prefect("block", "register", "-m", module), env)
        status.update("deploying prefect.yaml")
        run_step("deploy", _prefect("--no-prompt", "deploy", "--all"), env)
        status.update("applying automations")
        automations = [sys.executable, "-m", "samoflow.cli", "automations", "apply"]
        run_step("automations", automations, env)
        for number in range(1, options.workers + 1):
            status.update(f"starting worker {number}")
            state = _record(home, state, _start_worker(number, env, home, options))
    return state


def _start_worker(number: int, env: dict[str, str], home: Path, options: UpOptions) -> Started:
    name = f"samoflow-worker-{number}"
    worker_env = {**env, "PREFECT_WORKER_QUERY_SECONDS": "2"}
    if options.own_roots:  # as if on its own machine: its sessions and worktrees stay its own
        worker_env["SAMOFLOW_SESSIONS_ROOT"] = str(home / name / "sessions")
        worker_env["SAMOFLOW_WORKTREES_ROOT"] = str(home / name / "worktrees")
    argv = _prefect("worker", "start", "--pool", WORK_POOL, "--name", name)
    if options.worker_limit:
        argv += ["--limit", str(options.worker_limit)]
    return start_detached(f"worker-{number}", argv, worker_env, home)


def _record(home: Path, state: UpState, process: Started) -> UpState:
    updated = state.model_copy(update={"processes": [*state.processes, process]})
    save_up(home, updated)  # recorded at once: a failed `up` can still be taken down
    return updated


def down(
    home: Annotated[Path | None, typer.Option(help="Where samoflow keeps pids and logs.")] = None,
) -> None:
    """Stop what `samoflow up` started (workers first), by pid and start time; nothing else."""
    home = home or default_home()
    state = read_up(home)
    if state is None:
        console.print("nothing to stop: `samoflow up` has not started anything here")
        return
    for process in reversed(state.processes):
        stopped = stop(process)
        console.print(f"{process.role} (pid {process.pid}): {'stopped' if stopped else 'gone'}")
    forget_up(home)
