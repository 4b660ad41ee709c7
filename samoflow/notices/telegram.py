"""The Telegram Bot API as samoflow uses it: `sendMessage` (Markdown) and `getUpdates`.

The bot token is part of every URL, so every error text is masked before it leaves here.
5xx, 429 (with `parameters.retry_after`) and connection errors are retried (http_retry).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import httpx

from samoflow.notices.channel import DeliveryError, mask
from samoflow.notices.http_retry import RetryPolicy, post_with_retries
from samoflow.notices.slack import SlackPayload

DEFAULT_API = "https://api.telegram.org"
MESSAGE_LIMIT = 4096
_SPECIAL = re.compile(r"([_*\[])")  # legacy Markdown's entity starters


def escape_markdown(text: str) -> str:
    """Escape Markdown outside `code` spans (an odd backtick count loses its backticks)."""
    if text.count("`") % 2:
        text = text.replace("`", "'")
    parts = text.split("`")
    return "`".join(part if i % 2 else _SPECIAL.sub(r"\\\1", part) for i, part in enumerate(parts))


def markdown_text(payload: SlackPayload) -> str:
    """The notice's plain text as Telegram Markdown: the headline bold, the rest escaped."""
    head, _, rest = payload.text.partition("\n")
    body = f"\n{escape_markdown(rest)}" if rest else ""
    text = f"*{escape_markdown(head).replace('*', '')}*" + body
    return text[:MESSAGE_LIMIT]


@dataclass(frozen=True)
class TelegramApi:
    token: str
    policy: RetryPolicy
    base_url: str = DEFAULT_API

    def _call(self, method: str, params: dict[str, Any]) -> Any:
        url = f"{self.base_url.rstrip('/')}/bot{self.token}/{method}"
        try:
            response = post_with_retries(url, params, self.policy)
        except httpx.HTTPError as error:
            text = mask(f"{method}: {type(error).__name__}: {error}", [self.token])
            raise DeliveryError(text) from None
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code != 200 or not body.get("ok"):
            answer = str(body.get("description", response.text[:200]))
            raise DeliveryError(
                mask(f"{method} answered HTTP {response.status_code}: {answer}", [self.token])
            )
        return body.get("result")

    def send_message(self, chat_id: str, text: str, reply_to: int | None = None) -> int:
        params: dict[str, Any] = {"chat_id": chat_id, "text": text, "parse_mode": "Markdown"}
        if reply_to is not None:
            params["reply_to_message_id"] = reply_to
        result = self._call("sendMessage", params)
        return int(result["message_id"])

    def get_updates(self, offset: int | None, timeout_seconds: int) -> list[dict[str, Any]]:
        """Long polling: waits up to `timeout_seconds` for updates from `offset` on."""
        params: dict[str, Any] = {"timeout": timeout_seconds, "allowed_updates": ["message"]}
        if offset is not None:
            params["offset"] = offset
        result = self._call("getUpdates", params)
        return list(result or [])
