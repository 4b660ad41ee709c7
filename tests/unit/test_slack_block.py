"""SlackAlerts against a capture server on 127.0.0.1: retries, bot token, no secret leaks."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from samoflow.blocks.slack import SlackAlerts, SlackDeliveryError
from samoflow.notices.slack import SlackPayload
from tests.conftest import free_port
from tests.support.slack_capture import slack_capture

PAYLOAD = SlackPayload(
    text="hello", blocks=({"type": "section", "text": {"type": "mrkdwn", "text": "hi"}},)
)


def test_a_webhook_answering_500_then_200_is_retried_and_delivers_once() -> None:
    with slack_capture(statuses=[500, 200]) as slack:
        SlackAlerts(webhook_url=slack.url).send_payload(PAYLOAD)
    assert len(slack.posts) == 2 and slack.texts() == ["hello"]
    assert slack.delivered[0]["blocks"][0]["type"] == "section"


def test_a_webhook_that_keeps_failing_raises_without_the_secret_url() -> None:
    with slack_capture(statuses=[500, 500, 500, 500]) as slack:
        block = SlackAlerts(webhook_url=slack.url)
        with pytest.raises(SlackDeliveryError) as raised:
            block.send_payload(PAYLOAD)
    assert "HTTP 500" in str(raised.value) and "secret-webhook-token" not in str(raised.value)
    assert "secret-webhook-token" not in repr(block)


def test_a_refused_connection_is_reported_without_the_secret() -> None:
    url = f"http://127.0.0.1:{free_port()}/services/secret-webhook-token"
    with pytest.raises(SlackDeliveryError) as raised:
        SlackAlerts(webhook_url=url).send_payload(PAYLOAD)
    assert "secret-webhook-token" not in str(raised.value)


def test_a_bot_token_posts_to_the_channel_through_the_base_url() -> None:
    with slack_capture() as slack:
        block = SlackAlerts(
            bot_token=SecretStr("xoxb-secret"), channel="#builds", api_base_url=slack.api_url
        )
        block.send_payload(PAYLOAD)
    (body,) = slack.delivered
    assert body.get("channel") == "#builds" and body.get("text") == "hello"


def test_a_block_with_nothing_to_send_through_says_so() -> None:
    with pytest.raises(SlackDeliveryError, match="neither"):
        SlackAlerts().send_payload(PAYLOAD)
