"""samocode's command line on samoflow: `run --config .samocode --session NAME`, `init`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from samoflow.cli.common import console, fail
from samoflow.names import validate_slug
from samoflow.samocode.config import (
    SamocodeConfigError,
    load_samocode_config,
    resolve_session_name,
    write_samoflow_config,
)
from samoflow.samocode.takeover import TakeOverError, is_samocode_session, take_over
from samoflow.session.files import SessionFiles
from samoflow.session.spec import AgentSpec
from samoflow.session.store import create_session, find_session, session_files, unblock
from samoflow.workspace.worktrees import open_repo


def samocode_session(
    config_file: Path,
    session: str | None,
    *,
    task: str,
    dive: str | None,
    agent: Callable[[], AgentSpec],
    auto_approve: bool,
) -> SessionFiles:
    """The session samocode would run: resumed, taken over, or new (`YY-MM-DD-NAME`); the
    agent is chosen only for a session that gets a new `_session.json`."""
    if not session:
        fail("--config needs --session NAME (samocode's command line)")
    try:
        config = load_samocode_config(config_file)
    except SamocodeConfigError as error:
        fail(str(error))
    project = config.as_project()
    open_repo(project.main_repo)
    name = resolve_session_name(project.sessions, validate_slug(session))
    files = session_files(project.sessions, validate_slug(name))
    if files.spec.exists():
        files = find_session(project.sessions, name)
        unblock(files, "resumed by `samoflow run` after a block")
        return files
    if is_samocode_session(files):
        try:
            spec = take_over(project, files, agent(), task=task, auto_approve_gates=auto_approve)
        except TakeOverError as error:
            fail(str(error))
        console.print(f"took over samocode session {files.name} ({spec.branch})")
        unblock(files, "taken over by samoflow after a block")
        return files
    return create_session(
        project, name=name, task=task, dive=dive, agent=agent(), auto_approve_gates=auto_approve
    )


def init_from_samocode(config_file: Path) -> Path:
    try:
        return write_samoflow_config(load_samocode_config(config_file))
    except SamocodeConfigError as error:
        fail(str(error))
