"""Listen for replies on every channel that can take them: Telegram, Slack with a bot token.

One task run is one long poll (Telegram) plus one read of the open Slack threads. The
effects that need Prefect (resume a paused gate run, start a run, store an inbox message)
are bound here; the rest is `samoflow/replies/`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import cast

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from samoflow.blocks.slack import SlackAlerts
from samoflow.blocks.telegram import TelegramAlerts
from samoflow.inbox.messages import new_message
from samoflow.prefect_api.gates import release_paused_run, resume_paused_run
from samoflow.prefect_api.session_runs import start_session_run
from samoflow.replies.access import Access, Handled
from samoflow.replies.act import ReplyEffects
from samoflow.replies.slack import poll_slack
from samoflow.replies.telegram import poll_telegram
from samoflow.session.files import SessionFiles
from samoflow.settings import Settings, get_settings
from samoflow.tasks.inbox import send_message


def _send_inbox(files: SessionFiles, text: str, sender: str) -> None:
    send_message(files.sessions_root, new_message(files.name, text, sender))


EFFECTS = ReplyEffects(
    resume_gate_run=resume_paused_run,
    start_session=start_session_run,
    send_inbox=_send_inbox,
    release_gate=release_paused_run,
)


def _telegram(settings: Settings) -> TelegramAlerts | None:
    if not settings.telegram_block:
        return None
    return cast(TelegramAlerts, TelegramAlerts.load(settings.telegram_block))


def _slack(settings: Settings) -> SlackAlerts | None:
    """The Slack block if it posts with a bot token (webhook notices have no thread)."""
    try:
        block = cast(SlackAlerts, SlackAlerts.load(settings.slack_block))
    except ValueError:
        return None  # no such block: Slack is not configured
    return block if block.bot_token is not None and block.channel else None


def listening_channels() -> list[str]:
    """The channels a listener would read; none: nothing to listen to (return at once)."""
    settings = get_settings()
    names = ["telegram"] if _telegram(settings) else []
    return [*names, "slack"] if _slack(settings) else names


@task(name="listen-for-replies", cache_policy=NO_CACHE, retries=0)
def listen_for_replies(sessions_root: str, poll_seconds: int) -> list[Handled]:
    settings = get_settings()
    root = Path(sessions_root)
    handled: list[Handled] = []
    if (telegram := _telegram(settings)) is not None:
        access = Access(chat=telegram.chat_id,
                        allowed_users=frozenset(str(u) for u in telegram.allowed_user_ids))
        handled += poll_telegram(telegram.api(), access, root, EFFECTS, settings, poll_seconds)
    if (slack := _slack(settings)) is not None:
        assert slack.channel is not None
        access = Access(chat=slack.channel, allowed_users=frozenset(slack.allowed_user_ids))
        handled += poll_slack(slack.web_client(), access, root, EFFECTS, settings)
        if telegram is None:
            time.sleep(poll_seconds)  # no long poll paces this loop: Slack is read this often
    logger = get_run_logger()
    for item in handled:
        if item.ignored is None:
            logger.info("%s reply %s on %s: %s -> %s", item.channel, item.ref, item.session,
                        item.action, item.answer)
    return handled
