"""POST with retries on 5xx, 429 and connection errors, honouring the server's retry-after.

Used by the Telegram and webhook channels (httpx); the waits are capped so a server asking
for an hour does not hold a session: the message stays in the outbox for the next flush.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass(frozen=True)
class RetryPolicy:
    retries: int  # tries after the first
    timeout_seconds: float
    backoff_seconds: float = 0.5
    max_wait_seconds: float = 30.0


def _wait_of(response: httpx.Response, attempt: int, policy: RetryPolicy) -> float:
    """Telegram's `parameters.retry_after`, a Retry-After header, or exponential backoff."""
    wait: float = policy.backoff_seconds * 2**attempt
    try:
        body = response.json()
        wait = float(body.get("parameters", {}).get("retry_after", wait))  # Telegram's
    except (ValueError, AttributeError):
        header = response.headers.get("Retry-After")
        if header is not None and header.isdigit():
            wait = float(header)
    return min(wait, policy.max_wait_seconds)


def post_with_retries(
    url: str,
    payload: dict[str, Any],
    policy: RetryPolicy,
    sleep: Callable[[float], None] = time.sleep,
) -> httpx.Response:
    """The last response (any status), or the last connection error raised after the retries."""
    with httpx.Client(timeout=policy.timeout_seconds) as client:
        for attempt in range(policy.retries + 1):
            last = attempt == policy.retries
            try:
                response = client.post(url, json=payload)
            except httpx.TransportError:
                if last:
                    raise
                sleep(policy.backoff_seconds * 2**attempt)
                continue
            if (response.status_code < 500 and response.status_code != 429) or last:
                return response
            sleep(_wait_of(response, attempt, policy))
    raise AssertionError("unreachable: the last attempt returns or raises")
