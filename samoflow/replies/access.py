"""Who may act: the configured chat (or channel) and, when set, the allowed user ids only.

Everything else is ignored and logged, never acted on. A reply acts on the session of the
notice it answers (found by the message id its channel gave that notice).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from samoflow.session.files import SessionFiles, is_session_dir
from samoflow.session.store import WORKER_SEPARATOR, session_files, worker_files

log = logging.getLogger("samoflow.replies")


@dataclass(frozen=True)
class Access:
    chat: str  # Telegram chat id / Slack channel id
    allowed_users: frozenset[str]  # empty: anyone in that chat

    def refusal(self, chat: str, user: str) -> str | None:
        """Why this sender may not act, or None when it may."""
        if chat != self.chat:
            return f"chat {chat} is not the configured chat"
        if self.allowed_users and user not in self.allowed_users:
            return f"user {user} is not an allowed user"
        return None


class Handled(BaseModel):
    """One reply as the listener saw it: acted on (with the answer) or ignored (and why)."""

    model_config = ConfigDict(frozen=True)

    channel: str
    ref: str  # the update id / message ts
    session: str | None = None
    action: str | None = None
    answer: str | None = None
    ignored: str | None = None


def ignored(channel: str, ref: str, why: str) -> Handled:
    log.warning("%s reply %s ignored: %s", channel, ref, why)
    return Handled(channel=channel, ref=ref, ignored=why)


def resolve_session(sessions_root: Path, name: str) -> SessionFiles | None:
    """A top-level session or a worker (`<coordinator>--<worker>`), if it exists."""
    try:
        if WORKER_SEPARATOR in name:
            parent, _, worker = name.partition(WORKER_SEPARATOR)
            files = worker_files(session_files(sessions_root, parent), worker)
        else:
            files = session_files(sessions_root, name)
    except ValueError:
        return None
    return files if is_session_dir(files.root) else None
