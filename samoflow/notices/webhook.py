"""The generic webhook channel: the notice as one JSON POST (text, blocks), retried."""

from __future__ import annotations

import httpx

from samoflow.notices.channel import DeliveryError, mask
from samoflow.notices.http_retry import RetryPolicy, post_with_retries
from samoflow.notices.slack import SlackPayload


def post_notice(url: str, payload: SlackPayload, policy: RetryPolicy) -> None:
    """Any 2xx is taken; the URL may carry a token, so errors never show it."""
    body = {"source": "samoflow", **payload.model_dump(mode="json")}
    try:
        response = post_with_retries(url, body, policy)
    except httpx.HTTPError as error:
        raise DeliveryError(mask(f"webhook: {type(error).__name__}: {error}", [url])) from None
    if not 200 <= response.status_code < 300:
        raise DeliveryError(f"webhook answered HTTP {response.status_code}")
