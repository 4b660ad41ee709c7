"""A flow to send an inbox message from the Prefect UI (a form: session, text, sender)."""

from __future__ import annotations

from pathlib import Path

from prefect import flow

from samoflow.inbox.messages import Message, MessageKind, new_message
from samoflow.prefect_api.results import unpersisted_results
from samoflow.project import root_holding
from samoflow.tasks.inbox import send_message


@flow(name="samoflow-send-message", flow_run_name="send-to-{session}", **unpersisted_results())
def send_message_flow(
    session: str,
    text: str,
    sender: str = "human",
    kind: MessageKind = MessageKind.GUIDANCE,
    sessions_root: str | None = None,
) -> Message:
    """Store the message in Prefect; the session's next iteration delivers it.

    The sessions root is the worker's: `SAMOFLOW_SESSIONS_ROOT`, else the project's
    (`SAMOFLOW_REPO`, which `samoflow up` sets); a UI user gives only session and text.
    """
    root = Path(sessions_root) if sessions_root else root_holding(session)
    return send_message(root, new_message(session, text, sender, kind))
