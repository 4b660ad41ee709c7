"""Inbox messages: the message format, the rules a sender must pass, and delivery.

Storage is behind `InboxStore` (Prefect Variables and artifacts in `tasks/inbox_store.py`).
Sequence numbers are claimed by an atomic create of the message's own record, so concurrent
senders never share or skip one; delivery walks the sequence in order and is idempotent:
a message whose file already exists (unread or read) is never written twice.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

from samoflow.atomic import atomic_write_model
from samoflow.clock import utcnow
from samoflow.names import validate_slug
from samoflow.session.files import SessionFiles

# A body this long still fits a Prefect Variable (values must stay under 5,000 characters).
MAX_INLINE_CHARS = 3_500
# Larger bodies go to a markdown artifact; beyond this they are refused.
MAX_MESSAGE_CHARS = 100_000


class InboxError(ValueError):
    """A message that cannot be sent as asked; nothing was stored."""


class MessageKind(StrEnum):
    GUIDANCE = "guidance"
    QUESTION = "question"
    ANSWER = "answer"
    NUDGE = "nudge"
    SYSTEM = "system"
    CHECK_FAILURE = "check_failure"  # the project's checks were red when the agent said done
    MERGE_FIXUP = "merge_fixup"  # the merge queue sends a member back to fix its branch


class Message(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True)

    id: str
    seq: int = 0  # assigned when stored
    from_: str = Field(alias="from")
    to: str
    sent_at: datetime = Field(default_factory=utcnow)
    kind: MessageKind = MessageKind.GUIDANCE
    text: str

    @property
    def file_name(self) -> str:
        return f"msg-{self.seq:06d}-{self.id}.json"


def new_message(
    to: str,
    text: str,
    sender: str = "human",
    kind: MessageKind = MessageKind.GUIDANCE,
    message_id: str | None = None,
) -> Message:
    """Check a message before anything is stored: slug names, a body that is text and fits."""
    validate_slug(to, "recipient")
    validate_slug(sender, "sender")
    if not text.strip():
        raise InboxError("the message is empty")
    if len(text) > MAX_MESSAGE_CHARS:
        raise InboxError(
            f"the message has {len(text)} characters; the limit is {MAX_MESSAGE_CHARS}"
        )
    return Message(
        id=message_id or uuid.uuid4().hex[:12], from_=sender, to=to, kind=kind, text=text
    )


def stable_id(*parts: str) -> str:
    """The same id for the same routed message, so a re-route after a crash is a duplicate."""
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:12]


def read_text_file(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise InboxError(f"{path} is not UTF-8 text") from error


class InboxStore(Protocol):
    def store(self, message: Message) -> Message:
        """Persist the message under the next free sequence number; return it with its seq."""
        ...

    def fetch_after(self, session: str, seq: int) -> list[Message]:
        """Stored messages with a sequence number above `seq`, in order."""
        ...

    def delivered_through(self, session: str) -> int: ...

    def mark_delivered(self, session: str, seq: int) -> None: ...

    def sent_count(self, session: str) -> int: ...


def _already_there(files: SessionFiles, message: Message) -> bool:
    pattern = f"msg-*-{message.id}.json"
    return any(files.inbox.glob(pattern)) or any(files.inbox_read.glob(pattern))


def deliver(files: SessionFiles, store: InboxStore) -> list[Message]:
    """Write new messages into `_inbox/` in send order, exactly once, then advance the mark."""
    session = files.name
    delivered = []
    for message in store.fetch_after(session, store.delivered_through(session)):
        if not _already_there(files, message):
            atomic_write_model(files.inbox / message.file_name, message)
            delivered.append(message)
        store.mark_delivered(session, message.seq)
    return delivered
