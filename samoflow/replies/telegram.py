"""Telegram replies: `getUpdates` long polling from the stored offset; a reply to one of the
bot's notices acts on that notice's session (see access.py for who may act)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from samoflow.notices.channel import DeliveryError
from samoflow.notices.outbox import NoticeOutbox
from samoflow.notices.telegram import TelegramApi, escape_markdown
from samoflow.replies.access import Access, Handled, ignored, log, resolve_session
from samoflow.replies.act import ReplyEffects, carry_out
from samoflow.replies.actions import interpret
from samoflow.replies.cursor import read_cursor, reading, write_cursor
from samoflow.session.state import Lifecycle, load_state
from samoflow.settings import Settings

CHANNEL = "telegram"


def poll_telegram(
    api: TelegramApi,
    access: Access,
    sessions_root: Path,
    effects: ReplyEffects,
    settings: Settings,
    timeout_seconds: int,
) -> list[Handled]:
    """One long poll; every update is read once (the offset is stored before acting)."""
    outbox = NoticeOutbox.for_channel(sessions_root, CHANNEL)
    with reading(outbox) as alone:
        if not alone:
            return []
        updates = api.get_updates(read_cursor(outbox).offset, timeout_seconds)
        handled = []
        for update in sorted(updates, key=lambda u: int(u["update_id"])):
            cursor = read_cursor(outbox)
            write_cursor(outbox, cursor.model_copy(update={"offset": int(update["update_id"]) + 1}))
            handled.append(_handle(update, api, access, outbox, sessions_root, effects, settings))
        return handled


def _handle(
    update: dict[str, Any],
    api: TelegramApi,
    access: Access,
    outbox: NoticeOutbox,
    sessions_root: Path,
    effects: ReplyEffects,
    settings: Settings,
) -> Handled:
    ref = str(update["update_id"])
    message = update.get("message") or {}
    chat = str(message.get("chat", {}).get("id", ""))
    user = str(message.get("from", {}).get("id", ""))
    if (refusal := access.refusal(chat, user)) is not None:
        return ignored(CHANNEL, ref, refusal)
    replied_to = (message.get("reply_to_message") or {}).get("message_id")
    session = outbox.session_of(str(replied_to)) if replied_to is not None else None
    files = resolve_session(sessions_root, session) if session else None
    if files is None or not message.get("text"):
        return ignored(CHANNEL, ref, "not a text reply to a samoflow notice")
    waiting = load_state(files).lifecycle is Lifecycle.WAITING
    action = interpret(str(message["text"]), waiting=waiting)
    who = f"telegram user {user}"
    answer = carry_out(files, action, who, f"telegram-{user}", effects, settings)
    try:
        api.send_message(access.chat, escape_markdown(answer), reply_to=int(message["message_id"]))
    except DeliveryError as error:  # the action is done; only its acknowledgement is lost
        log.warning("telegram: could not acknowledge update %s: %s", ref, error)
    return Handled(channel=CHANNEL, ref=ref, session=files.name, action=action.kind.value,
                   answer=answer)
