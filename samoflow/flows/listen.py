"""The listen flow: replies to notices act on their sessions (a deployment, every minute)."""

from __future__ import annotations

import time
from pathlib import Path

from prefect import flow

from samoflow.prefect_api.results import unpersisted_results
from samoflow.project import load_config
from samoflow.replies.access import Handled
from samoflow.settings import get_settings
from samoflow.tasks.listen import listen_for_replies, listening_channels


@flow(name="samoflow-listen", **unpersisted_results())
def listen_flow(repo: str, seconds: float | None = None) -> list[Handled]:
    """Long-poll every reply channel for `seconds`; with none configured, end at once."""
    return listen_for(repo, seconds if seconds is not None else get_settings().listen_seconds)


def listen_for(repo: str, seconds: float) -> list[Handled]:
    """The listening itself, in the run that calls it (this flow, or the minute's monitor)."""
    settings = get_settings()
    sessions = load_config(Path(repo)).sessions
    if not listening_channels():
        return []
    deadline = time.monotonic() + seconds
    handled: list[Handled] = []
    while (left := deadline - time.monotonic()) > 0:
        poll = int(min(settings.reply_poll_seconds, max(left, 0)))
        handled += listen_for_replies(str(sessions), poll)
    return handled


if __name__ == "__main__":
    listen_flow.serve(name="listen")
