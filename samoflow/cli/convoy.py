"""The `samoflow convoy` and `samoflow clean` commands (registered by samoflow/cli.py).

Runnable on its own too: `python -m samoflow.cli.convoy convoy plan.toml --repo .`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, cast

import typer
from rich.table import Table

from samoflow.cli.common import USER_ERRORS as COMMON_ERRORS
from samoflow.cli.common import (
    RepoOption,
    console,
    fail,
    fit_to_width,
    project_config,
    reach_prefect,
    run_link,
    show_table,
    start_deployment_run,
    ui_hint,
)
from samoflow.cli.output import (
    MEMBER_DROP_FIRST,
    follow_convoy,
    prefect_logs_to,
    while_following,
)
from samoflow.convoy.announcement import cleanly_done, merge_summary
from samoflow.convoy.record import (
    ConvoyError,
    ConvoyRecord,
    convoy_log,
    list_convoys,
    read_convoy,
)
from samoflow.convoy.rounds import verified_label
from samoflow.convoy.setup import prepare_plan
from samoflow.delivery.status import verification_of
from samoflow.project import ProjectConfig
from samoflow.serve.reach import Route, Source
from samoflow.session.cleanup import (
    CleanupCheck,
    check_integration_worktree,
    check_worktree,
    remove_integration_worktree,
    remove_worktree,
)
from samoflow.session.files import SessionFiles
from samoflow.session.store import list_sessions, worker_sessions
from samoflow.settings import get_settings

USER_ERRORS = (*COMMON_ERRORS, ConvoyError)


def _summary(record: ConvoyRecord) -> Table:
    table = Table(
        "member", "state", "phase", "iterations", "cost $", "verified", "merge", "merge queue",
        "note",
    )
    for m in record.members:
        table.add_row(
            m.name,
            m.state.value,
            m.phase,
            str(m.iterations),
            f"{m.cost_usd:.4f}",
            verification_of(SessionFiles(Path(m.session_dir))).verified,
            m.merge.describe() if m.merge else "-",
            verified_label(m.rounds),
            (m.note or "")[:50],
        )
    return table


def convoy(
    plan: Annotated[Path, typer.Argument(help="The plan file (TOML).")],
    repo: RepoOption = Path("."),
    local: Annotated[bool, typer.Option(help="Run here even when `samoflow up` serves.")] = False,
    verbose: Annotated[bool, typer.Option(help="Show Prefect's own log lines too.")] = False,
) -> None:
    """Run the plan's sessions in parallel worktrees as one convoy; re-running continues it."""
    project_config(repo)  # a clear error before anything is created
    # Prepared here, in this project's sessions root, served or not: whichever worker runs the
    # convoy (each may keep its own root) finds the same record, now and on a re-run.
    try:
        path, prepared = prepare_plan(plan, repo, get_settings().convoy_concurrency)
    except USER_ERRORS as error:
        fail(str(error))
    route = reach_prefect()
    if route.source is Source.SERVED and route.api_url and not local:
        # `samoflow up` serves: a deployment run, in the UI, lasting
        parameters = {"record": str(path)}
        run_id = start_deployment_run(
            route.api_url, "samoflow-convoy/convoy", parameters, f"convoy-{prepared.name}"
        )
        console.print(f"deployment run {run_id}: {run_link(route.api_url, run_id)}")
        return
    from samoflow.flows.convoy import run_convoy_flow  # Prefect loads only when flows run

    log = convoy_log(path)
    if not verbose:
        console.print(f"Prefect's log: {log} (or --verbose)", highlight=False, soft_wrap=True)
    try:
        with (
            prefect_logs_to(None if verbose else log, until_exit=True),
            console.status(f"convoy {prepared.name} running (Ctrl-C stops; re-run continues)"),
        ):
            record = cast(
                ConvoyRecord,
                while_following(
                    lambda stop: follow_convoy(path, stop), lambda: run_convoy_flow(str(path))
                ),
            )
    except USER_ERRORS as error:
        fail(str(error))
    _report(record, route)


def _summary_lines(record: ConvoyRecord) -> list[str]:
    """The final table as plain lines, for a log or a pipe: a table there is cut to 80
    columns, each cell wrapped over several lines."""
    lines = []
    for m in record.members:
        queue = verified_label(m.rounds)
        parts = [
            m.state.value,
            f"phase {m.phase}",
            f"{m.iterations} it",
            f"${m.cost_usd:.4f}",
            f"verified: {verification_of(SessionFiles(Path(m.session_dir))).verified}",
            m.merge.describe() if m.merge else "not merged",
            *([f"merge queue: {queue}"] if queue != "-" else []),
            *([m.note] if m.note else []),
        ]
        lines.append(f"{m.name}: {' · '.join(parts)}")
    return lines


def _report(record: ConvoyRecord, route: Route) -> None:
    if console.is_terminal:
        console.print(fit_to_width(_summary(record), console.width, MEMBER_DROP_FIRST)[0])
    else:
        for line in _summary_lines(record):
            console.print(line, highlight=False, soft_wrap=True, markup=False)
    console.print(f"integration branch: [bold]{record.integration_branch}[/bold]")
    console.print(f"session folders:    {record.sessions_root}", highlight=False, soft_wrap=True)
    console.print(f"Prefect UI:         {ui_hint(route)}", highlight=False, soft_wrap=True)
    if record.notice is not None:
        sent = record.notice.sent_at
        told = f"sent {sent:%Y-%m-%d %H:%M:%S} UTC" if sent else "queued (retried)"
        console.print(f"completion notice:  {told}", highlight=False)
    clean = cleanly_done(record)
    if not record.complete:
        console.print("some members are not finished: run the same command again to continue")
    raise typer.Exit(code=0 if clean and record.complete else 1)


def _session_folders(config: ProjectConfig, names: list[str]) -> list[SessionFiles]:
    """Top-level sessions (all, or those named) and their workers."""
    chosen = names or list_sessions(config.sessions)
    found = []
    for name in chosen:
        files = SessionFiles(config.sessions / name)
        if not files.spec.exists():
            fail(f"unknown session {name!r}")
        found += [files, *worker_sessions(files)]
    return found


def _integration_checks(config: ProjectConfig, remove: bool) -> list[CleanupCheck]:
    checks = []
    for path in list_convoys(config.sessions):
        record = read_convoy(path)
        worktree = Path(record.integration_worktree)
        if remove:
            checks.append(
                remove_integration_worktree(
                    config.main_repo, worktree, record.complete, record.name
                )
            )
        else:
            checks.append(check_integration_worktree(worktree, record.complete, record.name))
    return checks


def clean(
    sessions: Annotated[
        list[str] | None, typer.Argument(help="Sessions to clean (default: all).")
    ] = None,
    repo: RepoOption = Path("."),
    yes: Annotated[bool, typer.Option("--yes", help="Remove; without it, only show.")] = False,
    convoys: Annotated[
        bool, typer.Option(help="Also remove finished convoys' integration worktrees.")
    ] = False,
) -> None:
    """Remove worktrees of finished sessions; never one with uncommitted or unmerged work."""
    config = project_config(repo)
    try:
        folders = _session_folders(config, sessions or [])
        checks = [remove_worktree(f) if yes else check_worktree(f) for f in folders]
        if convoys:
            checks += _integration_checks(config, remove=yes)
    except USER_ERRORS as error:
        fail(str(error))
    table = Table("worktree of", "path", "result")
    for check in checks:
        if not check.exists:
            continue
        verdict = ("removed" if yes else "removable") if check.removable else "kept"
        table.add_row(check.session, check.worktree, f"{verdict} {'; '.join(check.reasons)}")
    show_table(table)
    if not yes and any(c.removable for c in checks):
        console.print("nothing removed: add --yes to remove the removable worktrees")


def convoys(repo: RepoOption = Path(".")) -> None:
    """Every convoy of the project: members done of total, integration branch, notice."""
    config = project_config(repo)
    table = Table(
        "convoy",
        "done/total",
        "states",
        "merges",
        "verified",
        "integration branch",
        "completion notice",
    )
    for path in list_convoys(config.sessions):
        try:
            record = read_convoy(path)
        except ConvoyError as error:
            table.add_row(path.stem, "?", str(error)[:60], "", "", "", "")
            continue
        done, total = record.done_of_total()
        states = ", ".join(sorted({m.state.value for m in record.members}))
        if record.complete and not cleanly_done(record):
            states = f"[yellow]{states}, not clean[/yellow]"  # a conflict is never plain "done"
        notice = record.notice
        told = "not yet" if notice is None else ("sent" if notice.sent_at else "queued")
        row = [record.name, f"{done}/{total}", states, merge_summary(record), _verified(record)]
        table.add_row(*row, record.integration_branch, told)
    show_table(table)


def _verified(record: ConvoyRecord) -> str:
    """`2 checks green, 1 unverified (no checks)`: each member's last merge round, counted."""
    labels = [verified_label(m.rounds) for m in record.members if m.rounds]
    if not labels:
        return "-"
    return ", ".join(f"{labels.count(label)} {label}" for label in dict.fromkeys(labels))


DEMO_PLAN = """# samoflow demo convoy: three scripted sessions in parallel worktrees
name = "demo"
concurrency = 3
notify_on_complete = true
{sessions}"""
DEMO_SESSION = """
[[sessions]]
name = "{name}"
task = "{task}"
agent = "scripted"
scenario = "full"
auto_approve = true
"""
DEMO_TASKS = {
    "greeting": "Add a greeting function with a test",
    "farewell": "Add a farewell function with a test",
    "welcome": "Add a welcome banner with a test",
}


def demo_convoy(
    where: Annotated[Path, typer.Option(help="Folder for the throwaway project.")] = Path(
        "demo-output"
    ),
    verbose: Annotated[bool, typer.Option(help="Show Prefect's own log lines too.")] = False,
) -> None:
    """A convoy of three scripted sessions on a throwaway repository, merged and announced."""
    from samoflow.cli.demo import make_demo_project

    project = make_demo_project(where.resolve(), checks=True)
    sessions = "".join(DEMO_SESSION.format(name=n, task=t) for n, t in DEMO_TASKS.items())
    plan = project.parent / "demo-plan.toml"
    plan.write_text(DEMO_PLAN.format(sessions=sessions), encoding="utf-8")
    console.print(f"demo project: {project}\nplan: {plan}", soft_wrap=True)
    try:
        convoy(plan, project, verbose=verbose)
    finally:
        console.print(f"integration branch log:\n{_integration_log(project)}")


def _integration_log(project: Path) -> str:
    import git

    try:
        return str(git.Repo(project).git.log("--oneline", "--graph", "main..samoflow/convoy/demo"))
    except git.GitCommandError:
        return "(no integration branch yet)"


convoy_app = typer.Typer(help="samoflow convoys and cleanup.", no_args_is_help=True)
convoy_app.command()(convoy)
convoy_app.command()(clean)
convoy_app.command("demo")(demo_convoy)
convoy_app.command()(convoys)

if __name__ == "__main__":
    convoy_app()
