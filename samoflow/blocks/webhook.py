"""WebhookAlerts: notices as a JSON POST to any URL (the URL is a secret: it may hold a token)."""

from __future__ import annotations

from prefect.blocks.core import Block
from pydantic import Field, SecretStr

from samoflow.notices.http_retry import RetryPolicy
from samoflow.notices.slack import SlackPayload
from samoflow.notices.webhook import post_notice
from samoflow.settings import get_settings


class WebhookAlerts(Block):
    """Stored on the Prefect server under the `webhook_block` setting's name."""

    _block_type_name = "samoflow-webhook-alerts"
    _description = "Where samoflow POSTs notices as JSON: {source, text, blocks}."

    url: SecretStr = Field(description="The URL notices are POSTed to")

    @property
    def channel_name(self) -> str:
        return "webhook"

    def send_payload(self, payload: SlackPayload) -> str | None:
        settings = get_settings()
        policy = RetryPolicy(
            retries=settings.notify_retries,
            timeout_seconds=settings.notify_timeout_seconds,
            max_wait_seconds=settings.notify_max_retry_wait_seconds,
        )
        post_notice(self.url.get_secret_value(), payload, policy)
        return None
