"""Rate and usage limits: recognise them in an agent's report and decide how long to wait.

A limited attempt is not a failed one: the session waits until the reset, then runs the
same iteration again. Claude Code reports the API's 429 in its result line (after its own
retries) and, on subscription accounts, a `rate_limit_event` with the reset; Codex prints
`You've hit your usage limit...`; other CLIs print `SAMOFLOW_RATE_LIMIT {"retry_after_seconds":
N}` or match the generic patterns. The reset formats live in `reset_times`. A known reset is
waited for exactly (plus the skew); an unknown one waits the default, doubled per repeat.
"""

from __future__ import annotations

import json
import random
import re
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, ValidationError

from samoflow.economy.report_lines import RATE_LIMIT_PREFIX
from samoflow.economy.reset_times import reset_at, retry_after

GENERIC_PATTERN = re.compile(
    r"(rate[ _-]?limit(ed)?|usage limit|hit your (\w+ )?limit|too many requests|\b429\b)",
    re.IGNORECASE,
)


class RateLimit(BaseModel):
    model_config = ConfigDict(frozen=True)

    reason: str
    retry_after_seconds: float | None = None  # a relative wait the agent named
    resets_at: datetime | None = None  # the absolute reset the agent named (UTC)
    window: str | None = None  # five_hour, seven_day, ... when the CLI says which


def utc_now() -> datetime:
    return datetime.now(UTC)


def parse_hint(text: str, now: datetime | None = None) -> float | None:
    """Seconds until the reset, when the message names it (relative or absolute)."""
    moment = now or utc_now()
    if (when := reset_at(text, moment)) is not None:
        return max(0.0, (when - moment).total_seconds())
    return retry_after(text)


def from_text(text: str, now: datetime | None = None) -> RateLimit:
    """A limit whose message is `text`: its reset when it names one."""
    moment = now or utc_now()
    return RateLimit(
        reason=text.strip()[:300] or "HTTP 429",
        retry_after_seconds=retry_after(text),
        resets_at=reset_at(text, moment),
    )


def from_api_error(status: int | None, text: str, now: datetime | None = None) -> RateLimit | None:
    if status != 429:
        return None
    return from_text(text, now)


def from_output_line(line: str) -> RateLimit | None:
    """A structured report line, or a line a generic CLI prints when it is limited."""
    if line.startswith(RATE_LIMIT_PREFIX):
        try:
            data = json.loads(line[len(RATE_LIMIT_PREFIX) :])
            return RateLimit.model_validate({"reason": "reported by the agent", **data})
        except (json.JSONDecodeError, ValidationError):
            return RateLimit(reason="reported by the agent (unreadable report)")
    if GENERIC_PATTERN.search(line):
        return from_text(line)
    return None


def wait_seconds(
    limit: RateLimit,
    consecutive: int,
    *,
    default_seconds: float,
    max_seconds: float,
    jitter_fraction: float = 0.1,
    rng: random.Random | None = None,
    now: datetime | None = None,
    skew_seconds: float = 60.0,
) -> float:
    """Until a named reset (plus the clock skew), else the hint or the default, doubled
    per repeated limit, capped, with jitter (so sessions do not all return at once).
    """
    if limit.resets_at is not None:
        # A named reset is not a guess: no cap, no doubling; the skew covers clock drift
        # and the minute the CLI's "3:47pm" rounds away.
        until = (limit.resets_at - (now or utc_now())).total_seconds()
        return float(round(max(0.0, until) + skew_seconds, 3))
    base = limit.retry_after_seconds if limit.retry_after_seconds is not None else default_seconds
    grown = base * (2 ** max(0, consecutive - 1))
    spread = (rng or random).uniform(0, jitter_fraction) * grown
    return float(round(min(max_seconds, grown + spread), 3))
