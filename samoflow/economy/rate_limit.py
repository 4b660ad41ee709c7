"""Rate and usage limits: recognise them in an agent's report and decide how long to wait.

A limited attempt is not a failed one: the session sleeps until the reset, then runs the
same iteration again. Claude Code reports the API's 429 in its result line (after its own
retries); other CLIs print `SAMOFLOW_RATE_LIMIT {"retry_after_seconds": N}` or match the
adapter's output patterns. Waits grow for repeated limits and are capped.
"""

from __future__ import annotations

import json
import random
import re
import time

from pydantic import BaseModel, ConfigDict, ValidationError

RATE_LIMIT_PREFIX = "SAMOFLOW_RATE_LIMIT "
# Output that means "limited" from CLIs that have no structured report.
GENERIC_PATTERN = re.compile(
    r"(rate[ _-]?limit(ed)?|usage limit reached|too many requests|\b429\b)", re.IGNORECASE
)
# "retry after 30s", "retry-after: 30", "try again in 30 seconds"
RETRY_AFTER = re.compile(r"(?:retry[ -]after|try again in)[:\s]*(\d+(?:\.\d+)?)\s*s", re.I)
# Claude's usage-limit message ends with the reset time as epoch seconds: "...|1767225600"
RESET_EPOCH = re.compile(r"\|(\d{10})\b")


class RateLimit(BaseModel):
    model_config = ConfigDict(frozen=True)

    reason: str
    retry_after_seconds: float | None = None  # None: the agent did not say


def parse_hint(text: str, now: float | None = None) -> float | None:
    """Seconds until the reset, when the message names it."""
    if match := RETRY_AFTER.search(text):
        return float(match.group(1))
    if match := RESET_EPOCH.search(text):
        return max(0.0, int(match.group(1)) - (now if now is not None else time.time()))
    return None


def from_api_error(status: int | None, text: str) -> RateLimit | None:
    if status != 429:
        return None
    return RateLimit(reason=text.strip()[:300] or "HTTP 429", retry_after_seconds=parse_hint(text))


def from_output_line(line: str) -> RateLimit | None:
    """A structured report line, or a line a generic CLI prints when it is limited."""
    if line.startswith(RATE_LIMIT_PREFIX):
        try:
            data = json.loads(line[len(RATE_LIMIT_PREFIX) :])
            return RateLimit.model_validate({"reason": "reported by the agent", **data})
        except (json.JSONDecodeError, ValidationError):
            return RateLimit(reason="reported by the agent (unreadable report)")
    if GENERIC_PATTERN.search(line):
        return RateLimit(reason=line.strip()[:300], retry_after_seconds=parse_hint(line))
    return None


def wait_seconds(
    limit: RateLimit,
    consecutive: int,
    *,
    default_seconds: float,
    max_seconds: float,
    jitter_fraction: float = 0.1,
    rng: random.Random | None = None,
) -> float:
    """The agent's hint (or the default), doubled per repeated limit, capped, with jitter.

    Jitter spreads sessions that share an account so they do not all return at once.
    """
    base = limit.retry_after_seconds if limit.retry_after_seconds is not None else default_seconds
    grown = base * (2 ** max(0, consecutive - 1))
    spread = (rng or random).uniform(0, jitter_fraction) * grown
    return float(round(min(max_seconds, grown + spread), 3))
