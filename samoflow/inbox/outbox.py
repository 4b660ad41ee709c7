"""`_outbox/`: messages an agent sends to other sessions by name, routed after its iteration.

An agent writes `_outbox/<anything>.json` = {"to": "session", "text": "...", "kind": "..."}.
Routed files move to `_outbox/sent/`, unusable ones to `_outbox/rejected/` with a `.reason`.
The message id is derived from the file, so a re-route after a crash is delivered once.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from samoflow.atomic import atomic_write_text
from samoflow.inbox.messages import InboxError, InboxStore, MessageKind, new_message, stable_id
from samoflow.names import InvalidNameError
from samoflow.session.files import SessionFiles, is_session_dir


class OutboxItem(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    to: str
    text: str
    kind: MessageKind = MessageKind.GUIDANCE


def _set_aside(path: Path, reason: str) -> None:
    rejected = path.parent / "rejected"
    rejected.mkdir(exist_ok=True)
    os.replace(path, rejected / path.name)
    atomic_write_text(rejected / f"{path.name}.reason", reason + "\n")


def route(files: SessionFiles, sessions_root: Path, store: InboxStore) -> list[str]:
    outbox = files.outbox
    routed: list[str] = []
    for path in sorted(outbox.glob("*.json")) if outbox.is_dir() else []:
        try:
            raw = path.read_text(encoding="utf-8")
            item = OutboxItem.model_validate(json.loads(raw))
            if not is_session_dir(sessions_root / item.to):
                raise InboxError(f"unknown session {item.to!r}")
            message = new_message(
                item.to, item.text, files.name, item.kind, stable_id(files.name, path.name, raw)
            )
        except (
            UnicodeDecodeError,
            json.JSONDecodeError,
            ValidationError,
            InboxError,
            InvalidNameError,
        ) as error:
            _set_aside(path, f"not routed: {error}")
            continue
        store.store(message)
        (outbox / "sent").mkdir(exist_ok=True)
        os.replace(path, outbox / "sent" / path.name)
        routed.append(f"{path.name} -> {item.to}")
    return routed
