"""`samoflow up` and `samoflow down`: serve samoflow on a local Prefect server."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Annotated

import typer
from pydantic import BaseModel, ConfigDict
from rich.console import Console
from rich.status import Status

from samoflow.health.lease import read_lease
from samoflow.project import ProjectError, sessions_roots
from samoflow.serve import embedded_postgres, teardown
from samoflow.serve.embedded_postgres import POSTGRES_ROLE, stop_postgres
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
    server_env,
    start_detached,
    stop,
    wait_for,
)
from samoflow.session.files import SessionFiles
from samoflow.session.store import list_sessions
from samoflow.settings import get_settings

console = Console()


DatabaseOption = Annotated[
    str | None, typer.Option(help="Server database, e.g. postgresql+asyncpg://...")
]
SqliteOption = Annotated[
    bool, typer.Option("--sqlite", help="Serve on Prefect's SQLite file (a few sessions only).")
]
OwnRootsOption = Annotated[
    bool, typer.Option(help="Each worker keeps its own sessions and worktrees roots.")
]
WorkerLimitOption = Annotated[
    int | None, typer.Option(help="Flow runs one worker takes at once (default: any).")
]


def up(
    repo: Annotated[Path, typer.Option(help="The project the monitor watches.")] = Path("."),
    port: Annotated[int, typer.Option(help="Port of the local Prefect server.")] = 4200,
    workers: Annotated[int, typer.Option(help="Process workers to start.")] = 1,
    home: Annotated[Path | None, typer.Option(help="Where samoflow keeps pids and logs.")] = None,
    database_url: DatabaseOption = None,
    max_agents: Annotated[int, typer.Option(help="Agents running at once, all workers.")] = 4,
    own_roots: OwnRootsOption = False,
    worker_limit: WorkerLimitOption = None,
    sqlite: SqliteOption = False,
) -> None:
    """Start (or find) a Prefect server, create the pool, deploy, register blocks, start workers.

    Without --database-url the server runs on a PostgreSQL of samoflow's own (data under
    HOME/postgres, stopped by `samoflow down`); --sqlite keeps Prefect's SQLite file instead.
    """
    home = (home or default_home()).resolve()
    current = read_up(home)
    if current is not None and healthy(current.api_url):
        console.print(f"already up: {current.ui_url} (stop with `samoflow down`)")
        return
    embedded = database_url is None and not sqlite
    database_url = _embedded_database(home) if embedded else database_url
    api_url = f"http://127.0.0.1:{port}/api"
    state = UpState(
        api_url=api_url, ui_url=f"http://127.0.0.1:{port}", repo=str(repo.resolve()),
        database_url=database_url, home=str(home),
    )
    if current is not None:  # a previous `up` whose server died: adopt or stop what it left
        state = _after_dead_server(current, state, home)
    options = UpOptions(
        workers=workers,
        database_url=state.database_url,
        max_agents=max_agents,
        own_roots=own_roots,
        worker_limit=worker_limit,
        embedded_postgres=embedded,
    )
    try:
        state = _bring_up(state, home, options)
    except ServedError as error:
        console.print(f"[red]error:[/red] {error}", soft_wrap=True)
        console.print("what was started is recorded: `samoflow down` stops it")
        raise typer.Exit(code=2) from error
    console.print(f"samoflow is up: Prefect UI at [bold]{state.ui_url}[/bold]")
    console.print(f"  PREFECT_API_URL={state.api_url}   logs: {home / 'logs'}")


def _embedded_database(home: Path) -> str:
    try:
        return embedded_postgres.prepare(home)
    except ServedError as error:  # nothing was started yet
        console.print(f"[red]error:[/red] {error}", soft_wrap=True)
        raise typer.Exit(code=2) from error


class UpOptions(BaseModel):
    model_config = ConfigDict(frozen=True)

    workers: int
    database_url: str | None
    max_agents: int
    own_roots: bool
    worker_limit: int | None
    embedded_postgres: bool = False


def _bring_up(state: UpState, home: Path, options: UpOptions) -> UpState:
    env = prefect_env(
        state.api_url,
        {"SAMOFLOW_REPO": state.repo, "SAMOFLOW_AGENT_CONCURRENCY_LIMIT": AGENT_LIMIT},
    )
    with console.status("starting the Prefect server") as status:
        if not healthy(state.api_url):
            state = _start_server(state, home, env, options, status)
        status.update("setting up the work pool, the agent limit, blocks and deployments")
        _provision(state.api_url, env, options.max_agents)
        running = {process.role for process in state.processes}
        for number in range(1, options.workers + 1):
            if f"worker-{number}" in running:
                continue  # adopted from the previous `up`: never two samoflow-worker-N
            status.update(f"starting worker {number}")
            state = _record(home, state, _start_worker(number, env, home, options))
    return state


def _start_server(
    state: UpState, home: Path, env: dict[str, str], options: UpOptions, status: Status
) -> UpState:
    """The embedded PostgreSQL first (unless adopted), then the Prefect server on it."""
    if options.embedded_postgres:
        status.update("starting the embedded PostgreSQL")
        postgres = next((p for p in state.processes if p.role == POSTGRES_ROLE), None)
        if postgres is None:
            postgres = embedded_postgres.launch(home)
            state = _record(home, state, postgres)
        embedded_postgres.wait_ready(home, postgres)
        status.update("starting the Prefect server")
    port = state.api_url.rsplit(":", 1)[1].split("/")[0]
    server = start_detached(
        "server",
        _prefect("server", "start", "--host", "127.0.0.1", "--port", port),
        {**env, **server_env(state.api_url, options.database_url)},
        home,
    )
    state = _record(home, state, server)
    wait_for(lambda: healthy(state.api_url), SERVER_DEADLINE_SECONDS, "the Prefect server")
    return state


def _provision(api_url: str, env: dict[str, str], max_agents: int) -> None:
    """In this process over one client, but `prefect deploy` (prefect.yaml is Prefect's own)."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from samoflow.prefect_api.automations import AutomationError, apply_stall_automation
    from samoflow.prefect_api.provision import ProvisionError, drop_stale_schedules, provision

    with temporary_settings(updates={PREFECT_API_URL: api_url}):
        try:
            provision(WORK_POOL, AGENT_LIMIT, max_agents, BLOCK_MODULES)
            run_step("deploy", _prefect("--no-prompt", "deploy", "--all"), env)
            for dropped in drop_stale_schedules():
                console.print(f"removed a schedule of {dropped}: the monitor listens now")
            apply_stall_automation(get_settings())
        except (ProvisionError, AutomationError) as error:
            raise ServedError(str(error)) from error


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


def _after_dead_server(previous: UpState, state: UpState, home: Path) -> UpState:
    """Workers of the same server (URL and database) are adopted: they reconnect to it and
    their sessions go on. Anything else the previous `up` left alive is taken down."""
    same_server = (previous.api_url, previous.database_url) == (state.api_url, state.database_url)
    adopted: list[Started] = []
    doomed: list[Started] = []
    for process in previous.processes:
        if not teardown.alive(process):
            continue
        # The same server's workers and its PostgreSQL go on; the new server joins them.
        goes_on = process.role == POSTGRES_ROLE or process.role.startswith("worker-")
        keep = same_server and goes_on
        (adopted if keep else doomed).append(process)
    if doomed:
        _take_down(previous, doomed)
    for process in adopted:
        console.print(f"adopted {process.role} (pid {process.pid}) of the previous `up`")
    updated = state.model_copy(update={"processes": adopted})
    save_up(home, updated)
    return updated


def _take_down(state: UpState, processes: list[Started]) -> None:
    """Workers with their flow runs and agents first, then the server, then its PostgreSQL;
    then who to resume."""
    workers = [p for p in processes if p.role not in ("server", POSTGRES_ROLE)]
    trees = [teardown.snapshot(worker) for worker in workers]
    sessions = _held_sessions(trees, _roots(state))
    for tree in trees:
        stopped = teardown.take_down(tree)
        runs = f", {len(tree.children)} flow-run process(es)" if tree.children else ""
        console.print(
            f"{tree.worker.role} (pid {tree.worker.pid}): {'stopped' if stopped else 'gone'}{runs}"
        )
    for role in ("server", POSTGRES_ROLE):  # the database outlives its one client
        for process in (p for p in processes if p.role == role):
            stopped = stop_postgres(process) if role == POSTGRES_ROLE else stop(process)
            console.print(f"{role} (pid {process.pid}): {'stopped' if stopped else 'gone'}")
    left = teardown.leftovers(trees)
    if left:
        console.print(f"[red]still running:[/red] pids {left}")
    for name in sessions:
        console.print(f"session {name} was stopped: resume with `samoflow run --session {name}`")


def _held_sessions(trees: list[teardown.Tree], roots: list[Path]) -> list[str]:
    """Sessions whose lease names a process under the workers (their orchestrator)."""
    under = teardown.pids(trees)
    held = []
    for root in roots:
        for name in list_sessions(root) if root.is_dir() else []:
            with contextlib.suppress(OSError, ValueError):
                lease = read_lease(SessionFiles(root / name).lease)
                if lease is not None and lease.pid in under:
                    held.append(name)
    return sorted(set(held))


def _roots(state: UpState) -> list[Path]:
    """Where the workers' sessions live: the project's roots, and own-roots per worker."""
    roots = []
    with contextlib.suppress(ProjectError, OSError, ValueError):
        roots = sessions_roots(Path(state.repo))
    if state.home:
        roots += sorted(Path(state.home).glob("samoflow-worker-*/sessions"))
    return roots


def down(
    home: Annotated[Path | None, typer.Option(help="Where samoflow keeps pids and logs.")] = None,
) -> None:
    """Stop what `samoflow up` started (workers with their flow runs and agents, then the
    server, then its PostgreSQL), by pid and start time; nothing else. Names the sessions
    that need a resume."""
    home = home or default_home()
    state = read_up(home)
    if state is None:
        console.print("nothing to stop: `samoflow up` has not started anything here")
        return
    _take_down(state, list(state.processes))
    forget_up(home)
