"""One notice, several channels: Slack, Telegram and a webhook each get it once, also when
Telegram is down the first time (its own outbox keeps it for the next try)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from pydantic import SecretStr

from samoflow.blocks.telegram import TelegramAlerts
from samoflow.blocks.webhook import WebhookAlerts
from samoflow.flows.session import session_flow
from samoflow.notices.outbox import NoticeOutbox
from samoflow.settings import get_settings
from samoflow.tasks.notify import flush_outbox
from tests.support.convoys import use_slack
from tests.support.sessions import new_session
from tests.support.slack_capture import slack_capture
from tests.support.telegram_api import CHAT_ID, TOKEN, fake_telegram

pytestmark = pytest.mark.usefixtures("prefect_api")

BLOCKS = '[[steps]]\noverview = "init"\nsignal = { status = "blocked", reason = "no db_url" }\n'


def use_channels(telegram_url: str, webhook_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    suffix = uuid.uuid4().hex[:8]
    TelegramAlerts(bot_token=SecretStr(TOKEN), chat_id=CHAT_ID,
                   api_base_url=telegram_url).save(f"tg-{suffix}", overwrite=True)
    WebhookAlerts(url=SecretStr(webhook_url)).save(f"hook-{suffix}", overwrite=True)
    monkeypatch.setenv("SAMOFLOW_TELEGRAM_BLOCK", f"tg-{suffix}")
    monkeypatch.setenv("SAMOFLOW_WEBHOOK_BLOCK", f"hook-{suffix}")
    monkeypatch.setenv("SAMOFLOW_NOTIFY_RETRIES", "0")
    get_settings.cache_clear()


def test_a_notice_reaches_every_channel_once(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = new_session(repo, BLOCKS, name="fanned")
    with slack_capture() as slack, slack_capture() as hook, fake_telegram([500]) as telegram:
        use_slack(slack.url, monkeypatch)
        use_channels(telegram.base_url, hook.url, monkeypatch)
        session_flow(str(files.root))  # blocked: one notice; Telegram answers 500
        assert len(slack.delivered) == 1 and len(hook.delivered) == 1
        assert telegram.texts() == []
        pending = NoticeOutbox.for_channel(files.sessions_root, "telegram")
        assert pending.pending_count() == 1
        session_flow(str(files.root))  # a re-run notices nothing new
        flush_outbox(str(files.sessions_root))  # what a convoy run does first
        assert len(slack.delivered) == 1 and len(hook.delivered) == 1
        (text,) = telegram.texts()
        assert text.startswith("*⛔ samoflow session `fanned` is blocked*")
        assert "no db\\_url" in text  # Markdown escaped outside code spans
        assert telegram.delivered[0]["parse_mode"] == "Markdown"
        sent = pending.sent_item("session-fanned-blocked-1")
        assert sent is not None and sent.receipt == str(telegram.next_message_id)
