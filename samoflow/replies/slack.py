"""Slack replies: thread replies to the bot's notices, read with `conversations.replies`.

Only notices posted with the bot token have a thread (`ts`, kept as the outbox receipt);
webhook notices cannot be answered. Per thread, the last reply read is stored, so a
restarted listener reads no reply twice; the bot's own messages are skipped.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from samoflow.clock import utcnow
from samoflow.notices.outbox import NoticeOutbox, QueuedNotice
from samoflow.replies.access import Access, Handled, ignored, log, resolve_session
from samoflow.replies.act import ReplyEffects, carry_out
from samoflow.replies.actions import interpret
from samoflow.replies.cursor import read_cursor, reading, write_cursor
from samoflow.session.state import Lifecycle, load_state
from samoflow.settings import Settings

CHANNEL = "slack"


def _threads(outbox: NoticeOutbox, days: float) -> list[QueuedNotice]:
    since = utcnow() - timedelta(days=days)
    return [
        item for item in outbox.sent_items()
        if item.receipt and item.session and item.sent_at is not None and item.sent_at >= since
    ]


def poll_slack(
    client: WebClient,
    access: Access,
    sessions_root: Path,
    effects: ReplyEffects,
    settings: Settings,
) -> list[Handled]:
    """Every thread of a recent notice, once; the replies after the stored one are acted on."""
    outbox = NoticeOutbox.for_sessions(sessions_root)  # Slack's outbox holds the threads
    handled: list[Handled] = []
    with reading(outbox) as alone:
        if not alone:
            return []
        for item in _threads(outbox, settings.reply_window_days):
            assert item.receipt is not None and item.session is not None
            for reply in _new_replies(client, access.chat, item.receipt, outbox):
                cursor = read_cursor(outbox)
                threads = {**cursor.threads, item.receipt: str(reply["ts"])}
                write_cursor(outbox, cursor.model_copy(update={"threads": threads}))
                handled.append(_handle(reply, item, client, access, sessions_root, effects,
                                       settings))
    return handled


def _new_replies(
    client: WebClient, channel: str, thread: str, outbox: NoticeOutbox
) -> list[dict[str, Any]]:
    last = read_cursor(outbox).threads.get(thread, thread)
    try:
        answer = client.conversations_replies(channel=channel, ts=thread, oldest=last)
    except SlackApiError as error:
        log.warning("slack: conversations.replies for %s failed: %s",
                    thread, error.response.get("error") if error.response else "?")
        return []
    raw: list[dict[str, Any]] = list(answer.get("messages") or [])
    messages = [dict(m) for m in raw]
    fresh = [
        m for m in messages
        if float(m.get("ts", 0)) > float(last) and m.get("ts") != thread
        and not m.get("bot_id") and not m.get("subtype")  # our acknowledgements, joins, edits
    ]
    return sorted(fresh, key=lambda m: float(m["ts"]))


def _handle(
    reply: dict[str, Any],
    notice: QueuedNotice,
    client: WebClient,
    access: Access,
    sessions_root: Path,
    effects: ReplyEffects,
    settings: Settings,
) -> Handled:
    ref = str(reply["ts"])
    user = str(reply.get("user", ""))
    if (refusal := access.refusal(access.chat, user)) is not None:
        return ignored(CHANNEL, ref, refusal)
    assert notice.session is not None
    files = resolve_session(sessions_root, notice.session)
    if files is None or not reply.get("text"):
        return ignored(CHANNEL, ref, "not a text reply to a known session's notice")
    waiting = load_state(files).lifecycle is Lifecycle.WAITING
    action = interpret(str(reply["text"]), waiting=waiting)
    answer = carry_out(files, action, f"slack user {user}", f"slack-{user.lower()}", effects,
                       settings)
    try:
        client.chat_postMessage(channel=access.chat, thread_ts=notice.receipt, text=answer)
    except SlackApiError as error:  # done; only the acknowledgement is lost
        log.warning("slack: could not acknowledge %s: %s", ref, error.response.get("error"))
    return Handled(channel=CHANNEL, ref=ref, session=files.name, action=action.kind.value,
                   answer=answer)
