"""What every samoflow command shares: the console, the --repo option, errors as exit 2."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console

from samoflow.agents.scenario import ScenarioError
from samoflow.names import InvalidNameError
from samoflow.project import ProjectConfig, ProjectError, load_config
from samoflow.sessions import SessionError
from samoflow.worktrees import RepoError, open_repo

console = Console()
# Mistakes a user can fix: printed as one line, exit code 2, never a traceback.
USER_ERRORS = (InvalidNameError, SessionError, RepoError, ProjectError, ScenarioError, ValueError)
RepoOption = Annotated[Path, typer.Option("--repo", help="The project's git repository.")]


def fail(message: str) -> NoReturn:
    console.print(f"[red]error:[/red] {message}", soft_wrap=True)
    raise typer.Exit(code=2)


def project_config(repo: Path) -> ProjectConfig:
    try:
        open_repo(repo.resolve())
        return load_config(repo.resolve())
    except USER_ERRORS as error:
        fail(str(error))
