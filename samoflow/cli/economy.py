"""`samoflow budget`: set or raise what a session may spend."""


from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from samoflow.cli.common import (
    USER_ERRORS,
    RepoOption,
    console,
    fail,
    project_config,
)
from samoflow.session.store import (
    find_session,
)


def budget(
    session: Annotated[str, typer.Argument(help="The session whose budget changes.")],
    usd: Annotated[float | None, typer.Option(help="New limit in USD.")] = None,
    tokens: Annotated[int | None, typer.Option(help="New limit in tokens (all kinds).")] = None,
    repo: RepoOption = Path("."),
) -> None:
    """Set or raise a session's budget; a session the budget blocked may then continue."""
    from samoflow.economy.breakers import raise_budget

    config = project_config(repo)
    try:
        files = find_session(config.sessions, session)
        if usd is None and tokens is None:
            fail("give --usd and/or --tokens")
        if (usd is not None and usd <= 0) or (tokens is not None and tokens <= 0):
            fail("limits must be positive")
        console.print(raise_budget(files, usd, tokens))
    except USER_ERRORS as error:
        fail(str(error))
