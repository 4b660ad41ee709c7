"""`samoflow send`: a message into a session's (or a whole convoy's) inbox."""


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
from samoflow.inbox.messages import InboxError, MessageKind, new_message, read_text_file
from samoflow.names import validate_slug
from samoflow.session.files import SessionFiles
from samoflow.session.history import HistoryError
from samoflow.session.state import Lifecycle, load_state
from samoflow.session.store import (
    find_session,
)


def send(
    session: Annotated[
        str | None, typer.Argument(help="The session that gets the message.")
    ] = None,
    text: Annotated[str | None, typer.Argument(help="The message.")] = None,
    convoy: Annotated[str | None, typer.Option(help="Send to every member of this convoy.")] = None,
    sender: Annotated[str, typer.Option("--from", help="Who sends it (a slug).")] = "human",
    file: Annotated[Path | None, typer.Option(help="Read the message from a file.")] = None,
    kind: Annotated[MessageKind, typer.Option(help="What kind of message.")] = MessageKind.GUIDANCE,
    repo: RepoOption = Path("."),
) -> None:
    """Send a message to a session's inbox (or a convoy's); the next iteration delivers it."""
    config = project_config(repo)
    if convoy is not None and text is None:
        session, text = None, session  # `send --convoy NAME "text"`: the text came first
    try:
        body = read_text_file(file) if file else (text or "")
        if convoy is None:
            message = new_message(session or "", body, sender, kind)
            files = find_session(config.sessions, message.to)
        else:
            new_message(validate_slug(convoy, "convoy name"), body, sender, kind)  # checks
    except (*USER_ERRORS, InboxError, OSError) as error:
        fail(str(error))
    reach_prefect()
    from samoflow.tasks.inbox import send_message, send_to_convoy

    if convoy is None:
        stored = send_message(config.sessions, message)
        console.print(f"message {stored.id} is #{stored.seq} in {stored.to}'s inbox")
        when = _when_read(files)
        if when:
            console.print(f"[yellow]note:[/yellow] {when}", highlight=False, soft_wrap=True)
        return
    try:
        sent = send_to_convoy(config.sessions, convoy, body, sender, kind)
    except (*USER_ERRORS, InboxError) as error:
        fail(str(error))
    console.print(f"sent to {len(sent)} members of {convoy}: " + ", ".join(m.to for m in sent))


def _when_read(files: SessionFiles) -> str | None:
    """When a session that is not running on will read the message: never silently never."""
    try:
        lifecycle = load_state(files).lifecycle
    except (HistoryError, OSError, ValueError):
        return None  # `samoflow status` names an unreadable session
    name = files.name
    return {
        Lifecycle.DONE: f"{name} is done: no iteration will read this message",
        Lifecycle.BLOCKED: f"{name} is blocked: its next iteration reads it, after "
        f"`samoflow run --session {name}`",
        Lifecycle.STOPPED: f"{name} is stopped: `samoflow resume {name}` lets it read this",
        Lifecycle.PAUSED: f"{name} is paused: `samoflow resume {name}` lets it read this",
        Lifecycle.WAITING: f"{name} waits at a gate: its next iteration, after "
        f"`samoflow answer {name}`, reads it",
    }.get(lifecycle)
