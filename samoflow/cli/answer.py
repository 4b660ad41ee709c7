"""`samoflow answer`: a human's answer to a session waiting at a gate (Q&A, plan approval)."""

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
    reach_prefect,
)
from samoflow.session.gate import GateAnswer
from samoflow.session.state import Lifecycle, load_state
from samoflow.session.store import find_session, leave_answer


def answer(
    session: str,
    text: Annotated[str | None, typer.Option(help="The answer.")] = None,
    file: Annotated[Path | None, typer.Option(help="Read the answer from a file.")] = None,
    reject: Annotated[bool, typer.Option(help="Do not approve: the agent revises.")] = False,
    repo: RepoOption = Path("."),
) -> None:
    """Answer a session waiting at a human gate (Q&A or plan approval)."""
    config = project_config(repo)
    try:
        files = find_session(config.sessions, session)
        body = file.read_text(encoding="utf-8") if file else text
        if not body or not body.strip():
            fail("give the answer with --text or --file")
        if load_state(files).lifecycle is not Lifecycle.WAITING:
            fail(f"session {session} is not waiting for an answer")
        given = GateAnswer(text=body, approve=not reject, answered_by="samoflow answer")
        reach_prefect()  # refuses before anything is written when the served API is down
        run_id = leave_answer(files, given)
    except (*USER_ERRORS, UnicodeDecodeError, OSError) as error:
        fail(str(error))
    from samoflow.prefect_api.gates import resume_paused_run  # Prefect loads only here

    if run_id and resume_paused_run(run_id, given):
        console.print(f"answered; the paused run {run_id} continues")
    else:
        console.print(f"answer saved; continue with: samoflow run --session {session}")
