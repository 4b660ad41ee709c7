"""The notifier conformance test: every channel (Slack webhook, Slack bot, Telegram, generic
webhook) against its local server on 127.0.0.1 delivers once, retries 5xx and 429, keeps a
message through an outage (and a restart) in its outbox, and never shows its secret."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from pydantic import SecretStr

from samoflow.blocks.slack import SlackAlerts
from samoflow.blocks.telegram import TelegramAlerts
from samoflow.blocks.webhook import WebhookAlerts
from samoflow.notices.channel import Channel, DeliveryError
from samoflow.notices.outbox import NoticeOutbox
from samoflow.notices.slack import SlackPayload, section_block
from samoflow.settings import get_settings
from tests.support.slack_capture import slack_capture
from tests.support.telegram_api import CHAT_ID, TOKEN, fake_telegram

PAYLOAD = SlackPayload(
    text="✅ samoflow session `s1` is done\nphase done, iteration 8\nall_tests pass *now*",
    blocks=(section_block("all tests pass"),),
)


@dataclass
class Rig:
    """A channel and what its server saw."""

    channel: Channel
    posts: Callable[[], int]  # requests answered, whatever the status
    texts: Callable[[], list[str]]  # the texts of the requests answered 200
    secret: str


@contextmanager
def slack_webhook(statuses: list[int]) -> Iterator[Rig]:
    with slack_capture(statuses) as server:
        block = SlackAlerts(webhook_url=SecretStr(server.url))
        yield Rig(block, lambda: len(server.posts), server.texts, "secret-webhook-token")


@contextmanager
def slack_bot(statuses: list[int]) -> Iterator[Rig]:
    with slack_capture(statuses) as server:
        block = SlackAlerts(bot_token=SecretStr("xoxb-secret-bot"), channel="C1",
                            api_base_url=server.api_url)
        yield Rig(block, lambda: len(server.posts), server.texts, "xoxb-secret-bot")


@contextmanager
def telegram(statuses: list[int]) -> Iterator[Rig]:
    with fake_telegram(statuses) as server:
        block = TelegramAlerts(bot_token=SecretStr(TOKEN), chat_id=CHAT_ID,
                               api_base_url=server.base_url)
        yield Rig(block, lambda: len(server.posts), server.texts, TOKEN)


@contextmanager
def webhook(statuses: list[int]) -> Iterator[Rig]:
    with slack_capture(statuses) as server:
        block = WebhookAlerts(url=SecretStr(server.url))
        yield Rig(block, lambda: len(server.posts), server.texts, "secret-webhook-token")


RIGS: dict[str, Callable[[list[int]], AbstractContextManager[Rig]]] = {
    "slack-webhook": slack_webhook,
    "slack-bot": slack_bot,
    "telegram": telegram,
    "webhook": webhook,
}


@pytest.fixture(params=sorted(RIGS))
def rig_for(request: pytest.FixtureRequest) -> Callable[[list[int]], AbstractContextManager[Rig]]:
    return RIGS[str(request.param)]


@pytest.fixture()
def no_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAMOFLOW_SLACK_RETRIES", "0")
    monkeypatch.setenv("SAMOFLOW_NOTIFY_RETRIES", "0")
    get_settings.cache_clear()


def test_a_payload_is_delivered_once(rig_for: Callable[..., AbstractContextManager[Rig]]) -> None:
    with rig_for([]) as rig:
        rig.channel.send_payload(PAYLOAD)
        assert rig.posts() == 1 and len(rig.texts()) == 1
        assert "samoflow session" in rig.texts()[0]


@pytest.mark.parametrize("refusal", [500, 503, 429])
def test_a_refusal_then_200_delivers_once(
    rig_for: Callable[..., AbstractContextManager[Rig]], refusal: int
) -> None:
    with rig_for([refusal, 200]) as rig:
        rig.channel.send_payload(PAYLOAD)
        assert rig.posts() == 2 and len(rig.texts()) == 1


def test_an_outage_keeps_the_notice_and_a_restarted_flush_delivers_it_once(
    rig_for: Callable[..., AbstractContextManager[Rig]], no_retries: None, tmp_path: Path
) -> None:
    with rig_for([500, 500]) as rig:
        outbox = NoticeOutbox.for_channel(tmp_path, rig.channel.channel_name)
        assert outbox.enqueue("session-s1-done-8", PAYLOAD)
        first = outbox.flush(rig.channel.send_payload)
        assert first.sent == () and first.pending == 1
        assert rig.secret not in first.failed[0][1]  # the error text never shows the secret
        assert outbox.flush(rig.channel.send_payload).pending == 1  # still down
        restarted = NoticeOutbox.for_channel(tmp_path, rig.channel.channel_name)
        assert restarted.enqueue("session-s1-done-8", PAYLOAD) is False  # never queued twice
        assert restarted.flush(rig.channel.send_payload).sent == ("session-s1-done-8",)
        assert restarted.flush(rig.channel.send_payload).sent == ()
        assert rig.posts() == 3 and len(rig.texts()) == 1


def test_a_final_refusal_is_a_delivery_error_without_the_secret(
    rig_for: Callable[..., AbstractContextManager[Rig]], no_retries: None
) -> None:
    with rig_for([500]) as rig, pytest.raises(DeliveryError) as refused:
        rig.channel.send_payload(PAYLOAD)
    assert rig.secret not in str(refused.value) and "500" in str(refused.value)
