"""The notifier interface: a channel takes one payload and says which message it became.

Slack, Telegram and a generic webhook implement it (their configuration lives in blocks);
each has its own outbox under `_notices/`, so one notice reaches every channel once.
"""

from __future__ import annotations

from typing import Protocol

from samoflow.notices.slack import SlackPayload


class DeliveryError(RuntimeError):
    """The channel did not take the message after its retries; the text holds no secret."""


class Channel(Protocol):
    @property
    def channel_name(self) -> str:
        """The outbox folder: `slack`, `telegram`, `webhook`."""
        ...

    def send_payload(self, payload: SlackPayload) -> str | None:
        """Deliver or raise `DeliveryError`; returns the channel's message id when it has one."""
        ...


def mask(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text
