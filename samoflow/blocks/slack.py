"""SlackAlerts: where samoflow's notices go (incoming webhook, or bot token + channel).

Secrets are `SecretStr` and never reach a log line or an error message: errors are
reported as the HTTP status and Slack's short answer, with the secrets masked anyway.
Retries: slack-sdk's own handlers (5xx, connection errors, 429 with Retry-After), with
backoff; a final failure raises `SlackDeliveryError` for the outbox to keep the message.
"""

from __future__ import annotations

from typing import Any

from prefect.blocks.core import Block
from pydantic import Field, SecretStr
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import RetryHandler
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.webhook import WebhookClient

from samoflow.notices.channel import DeliveryError
from samoflow.notices.slack import SlackPayload
from samoflow.settings import get_settings


class SlackDeliveryError(DeliveryError):
    """Slack did not take the message after the retries; the text holds no secret."""


class SlackAlerts(Block):
    """Stored on the Prefect server under the `slack_block` setting's name."""

    _block_type_name = "samoflow-slack-alerts"
    _description = "Where samoflow sends Slack notices: a webhook URL, or a bot token + channel."

    webhook_url: SecretStr | None = Field(default=None, description="Incoming-webhook URL")
    bot_token: SecretStr | None = Field(default=None, description="xoxb-... bot token")
    channel: str | None = Field(default=None, description="Channel for the bot token")
    api_base_url: str | None = Field(
        default=None, description="Slack Web API base URL override (tests, proxies)"
    )
    allowed_user_ids: list[str] = Field(
        default_factory=list, description="Only these users' thread replies act (empty: anyone)"
    )

    @property
    def channel_name(self) -> str:
        return "slack"

    def describe(self) -> str:
        """Where messages go, safe to log."""
        if self.webhook_url is not None:
            return "an incoming webhook"
        return f"bot token to channel {self.channel or '?'}"

    def send_payload(self, payload: SlackPayload) -> str | None:
        """Returns the message's `ts` when posted with the bot token (replies thread on it)."""
        if self.webhook_url is None and (self.bot_token is None or not self.channel):
            raise SlackDeliveryError("the SlackAlerts block has neither a webhook URL nor a bot")
        try:
            if self.webhook_url is not None:
                self._send_webhook(payload)
                return None
            return self._send_bot(payload)
        except SlackDeliveryError:
            raise
        except Exception as error:  # connection refused, timeout, ...: after the retries
            raise SlackDeliveryError(self._mask(f"{type(error).__name__}: {error}")) from None

    def _send_webhook(self, payload: SlackPayload) -> None:
        assert self.webhook_url is not None
        settings = get_settings()
        client = WebhookClient(
            self.webhook_url.get_secret_value(),
            timeout=int(settings.slack_timeout_seconds),
            retry_handlers=retry_handlers(settings.slack_retries),
        )
        response = client.send(text=payload.text, blocks=_blocks(payload))
        if response.status_code != 200:
            raise SlackDeliveryError(
                self._mask(f"webhook answered HTTP {response.status_code}: {response.body[:200]}")
            )

    def _send_bot(self, payload: SlackPayload) -> str | None:
        assert self.bot_token is not None and self.channel
        client = self.web_client()
        try:
            response = client.chat_postMessage(
                channel=self.channel, text=payload.text, blocks=_blocks(payload)
            )
        except SlackApiError as error:
            status = error.response.status_code if error.response is not None else "?"
            answer = error.response.get("error") if error.response is not None else None
            raise SlackDeliveryError(f"chat.postMessage answered HTTP {status}: {answer}") from None
        ts = response.get("ts")
        return str(ts) if ts else None

    def web_client(self) -> WebClient:
        """The Web API with the bot token (posting, and reading thread replies)."""
        assert self.bot_token is not None
        settings = get_settings()
        return WebClient(
            token=self.bot_token.get_secret_value(),
            base_url=self.api_base_url or "https://slack.com/api/",
            timeout=int(settings.slack_timeout_seconds),
            retry_handlers=retry_handlers(settings.slack_retries),
        )

    def _mask(self, text: str) -> str:
        for secret in (self.webhook_url, self.bot_token):
            if secret is not None and secret.get_secret_value():
                text = text.replace(secret.get_secret_value(), "***")
        return text


def retry_handlers(retries: int) -> list[RetryHandler]:
    return [
        ServerErrorRetryHandler(max_retry_count=retries),
        ConnectionErrorRetryHandler(max_retry_count=retries),
        RateLimitErrorRetryHandler(max_retry_count=retries),
    ]


def _blocks(payload: SlackPayload) -> list[dict[str, Any]]:
    return [dict(block) for block in payload.blocks]
