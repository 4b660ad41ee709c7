"""Inboxes on Prefect: messages as Variables (large bodies as artifacts), delivered by a task."""

from __future__ import annotations

import contextlib
import itertools
from pathlib import Path
from typing import Any, cast

from prefect import task
from prefect.artifacts import Artifact, create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import VariableCreate
from prefect.exceptions import ObjectAlreadyExists
from prefect.variables import Variable

from samoflow.inbox.files import highest_seq_on_disk
from samoflow.inbox.messages import MAX_INLINE_CHARS, Message, MessageKind, deliver, new_message
from samoflow.serve.bells import INBOX, ring
from samoflow.session.files import SessionFiles

VARIABLE_TAGS = ["samoflow", "samoflow-inbox"]


def message_variable(session: str, seq: int) -> str:
    return f"samoflow-msg-{session}-{seq:06d}"


def sent_variable(session: str) -> str:
    return f"samoflow-inbox-{session}-sent"


def delivered_variable(session: str) -> str:
    return f"samoflow-inbox-{session}-delivered"


def body_artifact_key(message: Message) -> str:
    return f"inbox-{message.to}-{message.id}"


class PrefectInboxStore:
    """Each message is its own Variable; creating it claims its sequence number atomically."""

    def store(self, message: Message) -> Message:
        payload: dict[str, Any] = {"message": message.model_dump(mode="json", by_alias=True)}
        if len(message.text) > MAX_INLINE_CHARS:
            key = body_artifact_key(message)
            create_markdown_artifact(key=key, markdown=message.text, description=f"to {message.to}")
            payload = {"message": {**payload["message"], "text": ""}, "artifact": key}
        start = int(Variable.get(sent_variable(message.to), default=0)) + 1
        with get_client(sync_client=True) as client:
            for seq in itertools.count(start):
                payload["message"]["seq"] = seq
                try:
                    client.create_variable(
                        VariableCreate(
                            name=message_variable(message.to, seq),
                            value=payload,
                            tags=VARIABLE_TAGS,
                        )
                    )
                    break
                except ObjectAlreadyExists:
                    continue  # another sender claimed this number first
        # A hint only: a stale (lower) value just means the next sender probes a bit further.
        # Two first senders may create the hint at once (409): it is advisory, the next
        # sender updates it, and a low hint only costs a few extra probes.
        with contextlib.suppress(ObjectAlreadyExists):
            Variable.set(sent_variable(message.to), seq, overwrite=True, tags=VARIABLE_TAGS)
        ring(INBOX, message.to)  # after the Variable: a listener that hears it finds the message
        return message.model_copy(update={"seq": seq})

    def _load(self, value: dict[str, Any]) -> Message:
        message = Message.model_validate(value["message"])
        if "artifact" in value:
            artifact = cast("Artifact | None", Artifact.get(value["artifact"]))
            text = str(artifact.data) if artifact is not None else "(message body missing)"
            message = message.model_copy(update={"text": text})
        return message

    def fetch_after(self, session: str, seq: int) -> list[Message]:
        found: list[Message] = []
        for next_seq in itertools.count(seq + 1):
            value = Variable.get(message_variable(session, next_seq), default=None)
            if value is None:
                return found
            found.append(self._load(value))
        return found

    def delivered_through(self, session: str) -> int:
        return int(Variable.get(delivered_variable(session), default=0))

    def mark_delivered(self, session: str, seq: int) -> None:
        Variable.set(delivered_variable(session), seq, overwrite=True, tags=VARIABLE_TAGS)

    def sent_count(self, session: str) -> int:
        return int(Variable.get(sent_variable(session), default=0))


def mail_waiting(files: SessionFiles) -> bool:
    """One Variable read instead of a task run: is there a message past the newest on disk?
    (A deleted `_inbox/` only makes the answer yes more often; delivery itself stays exact.)"""
    next_seq = highest_seq_on_disk(files) + 1
    return Variable.get(message_variable(files.name, next_seq), default=None) is not None


def outbox_waiting(files: SessionFiles) -> bool:
    """Whether the agent left messages to route: a look at the folder, no API call."""
    return files.outbox.is_dir() and any(files.outbox.glob("*.json"))


@task(name="deliver-inbox", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2)
def deliver_inbox(files: SessionFiles) -> list[str]:
    """New messages from Prefect into `_inbox/`, in order, once; then the inbox table."""
    store = PrefectInboxStore()
    delivered = deliver(files, store)
    if delivered:
        publish_inbox_table(files, store)
    return [m.file_name for m in delivered]


def publish_inbox_table(files: SessionFiles, store: PrefectInboxStore) -> None:
    rows: list[dict[str, Any]] = []
    for folder, state in ((files.inbox_read, "read"), (files.inbox, "delivered")):
        for path in sorted(folder.glob("msg-*.json")) if folder.is_dir() else []:
            message = Message.model_validate_json(path.read_text(encoding="utf-8"))
            rows.append(
                {
                    "seq": message.seq,
                    "from": message.from_,
                    "kind": message.kind.value,
                    "sent at": message.sent_at.isoformat(timespec="seconds"),
                    "state": state,
                    "text": message.text[:120],
                }
            )
    rows.sort(key=lambda row: int(row["seq"]))
    sent = store.sent_count(files.name)
    create_table_artifact(
        key=f"session-{files.name}-inbox",
        table=rows,
        description=f"{files.name} inbox: {sent} sent, {len(rows)} delivered, "
        f"{sum(r['state'] == 'read' for r in rows)} read",
    )


def send_message(sessions_root: Path, message: Message) -> Message:
    """Store a message for a known session (it waits in Prefect until the session runs)."""
    from samoflow.session.store import find_session

    find_session(sessions_root, message.to)
    return PrefectInboxStore().store(message)


def send_to_convoy(
    sessions_root: Path, convoy: str, text: str, sender: str, kind: MessageKind
) -> list[Message]:
    """The same message to every member of a convoy (workers included: the record knows them)."""
    from samoflow.convoy.record import convoy_path, read_convoy

    record = read_convoy(convoy_path(sessions_root, convoy))
    messages = [new_message(m.name, text, sender, kind) for m in record.members]  # check all first
    store = PrefectInboxStore()
    return [store.store(message) for message in messages]


@task(name="route-outbox", cache_policy=NO_CACHE)
def route_outbox(files: SessionFiles) -> list[str]:
    """Messages the agent left in `_outbox/` go to their sessions; bad ones are set aside."""
    from samoflow.inbox.outbox import route

    return route(files, files.sessions_root, PrefectInboxStore())
