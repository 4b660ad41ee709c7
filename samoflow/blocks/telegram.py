"""TelegramAlerts: a bot token (SecretStr) and a chat; notices go out as `sendMessage`.

`allowed_user_ids`, when set, are the only Telegram users whose replies samoflow acts on.
"""

from __future__ import annotations

from prefect.blocks.core import Block
from pydantic import Field, SecretStr

from samoflow.notices.http_retry import RetryPolicy
from samoflow.notices.slack import SlackPayload
from samoflow.notices.telegram import DEFAULT_API, TelegramApi, markdown_text
from samoflow.settings import get_settings


class TelegramAlerts(Block):
    """Stored on the Prefect server under the `telegram_block` setting's name."""

    _block_type_name = "samoflow-telegram-alerts"
    _description = "Where samoflow sends Telegram notices: a bot token and a chat id."

    bot_token: SecretStr = Field(description="The bot's token from @BotFather")
    chat_id: str = Field(description="The chat (user, group or channel) notices go to")
    allowed_user_ids: list[int] = Field(
        default_factory=list, description="Only these users' replies act (empty: anyone here)"
    )
    api_base_url: str = Field(default=DEFAULT_API, description="Bot API base URL (tests, proxies)")

    @property
    def channel_name(self) -> str:
        return "telegram"

    def api(self) -> TelegramApi:
        settings = get_settings()
        policy = RetryPolicy(
            retries=settings.notify_retries,
            timeout_seconds=settings.notify_timeout_seconds,
            max_wait_seconds=settings.notify_max_retry_wait_seconds,
        )
        return TelegramApi(self.bot_token.get_secret_value(), policy, self.api_base_url)

    def send_payload(self, payload: SlackPayload) -> str | None:
        return str(self.api().send_message(self.chat_id, markdown_text(payload)))
