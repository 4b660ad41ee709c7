"""A flow to send an inbox message from the Prefect UI (a form: session, text, sender)."""

from __future__ import annotations

from pathlib import Path

from prefect import flow

from samoflow.inbox.messages import Message, MessageKind, new_message
from samoflow.tasks.inbox import send_message


@flow(name="samoflow-send-message", flow_run_name="send-to-{session}")
def send_message_flow(
    sessions_root: str,
    session: str,
    text: str,
    sender: str = "human",
    kind: MessageKind = MessageKind.GUIDANCE,
) -> Message:
    """Store the message in Prefect; the session's next iteration delivers it."""
    return send_message(Path(sessions_root), new_message(session, text, sender, kind))
