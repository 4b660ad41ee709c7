"""Circuit breakers of the agent economy: the budget and the rate-limit waits, on disk.

They decide and record (history entries); the flow only sleeps and tells humans.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict

from samoflow.clock import utcnow
from samoflow.economy.budget import (
    BUDGET_NEEDS,
    BudgetLimits,
    BudgetState,
    assess,
    describe,
    read_limits,
    write_limits,
)
from samoflow.economy.rate_limit import RateLimit, wait_seconds
from samoflow.notices.notice import Notice, NoticeKind, session_notice
from samoflow.session.files import SessionFiles
from samoflow.session.history import EntryKind, Outcome, append_entry, system_entry
from samoflow.session.state import Lifecycle, load_state
from samoflow.settings import Settings

RATE_LIMIT_NEEDS = "rate_limit"




def _record(files: SessionFiles, iteration: int, outcome: Outcome, reason: str, needs: str) -> None:
    phase = load_state(files).phase.value
    append_entry(
        files.history, system_entry(iteration, phase, outcome=outcome, reason=reason, needs=needs)
    )


def check_budget(files: SessionFiles, settings: Settings) -> Notice | None:
    """Before dispatching an iteration: block when over, warn once when close."""
    limits = read_limits(files.root, settings.session_budget_usd, settings.session_budget_tokens)
    state = load_state(files)
    verdict = assess(state.usage, limits, settings.budget_warning_fraction)
    if verdict.state is BudgetState.OVER:
        _record(files, state.last_iteration, Outcome.BLOCKED, verdict.text, BUDGET_NEEDS)
        return session_notice(
            files,
            NoticeKind.OVER_BUDGET,
            verdict.text,
            f"`samoflow budget {files.name} --usd N` raises it and the session continues",
        )
    if verdict.state is BudgetState.WARNING and not limits.warned:
        write_limits(files.root, limits.model_copy(update={"warned": True}))
        return session_notice(files, NoticeKind.BUDGET_WARNING, verdict.text)
    return None


def raise_budget(files: SessionFiles, usd: float | None, tokens: int | None) -> str:
    """New limits; a session the budget blocked is unblocked (recorded) to go on."""
    current = read_limits(files.root, None, None)
    limits = BudgetLimits(
        usd=usd if usd is not None else current.usd,
        tokens=tokens if tokens is not None else current.tokens,
    )
    write_limits(files.root, limits)
    state = load_state(files)
    last = state.entries[-1] if state.entries else None
    if state.lifecycle is Lifecycle.BLOCKED and last is not None and last.needs == BUDGET_NEEDS:
        text = f"budget raised: {describe(state.usage, limits)}"
        _record(files, state.last_iteration, Outcome.CONTINUE, text, BUDGET_NEEDS)
        return text + "; continue with `samoflow run --session " + files.name + "`"
    return f"budget set: {describe(state.usage, limits) or 'no limits'}"


class RateLimitWait(BaseModel):
    model_config = ConfigDict(frozen=True)

    seconds: float
    consecutive: int
    alert: Notice | None


def consecutive_rate_limits(files: SessionFiles) -> int:
    count = 0
    for entry in reversed(load_state(files).entries):
        if entry.kind is not EntryKind.SYSTEM or entry.needs != RATE_LIMIT_NEEDS:
            break
        count += 1
    return count


def plan_rate_limit_wait(
    files: SessionFiles, iteration: int, limit: RateLimit, settings: Settings
) -> RateLimitWait:
    """Record the limit and the wait (visible in status and history); alert once."""
    consecutive = consecutive_rate_limits(files) + 1
    seconds = wait_seconds(
        limit,
        consecutive,
        default_seconds=settings.rate_limit_default_wait_seconds,
        max_seconds=settings.rate_limit_max_wait_seconds,
        skew_seconds=settings.limit_reset_skew_seconds,
    )
    until = utcnow() + timedelta(seconds=seconds)
    reason = f"rate limited ({limit.reason}); waiting {seconds:.1f} s until {until:%H:%M:%S} UTC"
    _record(files, iteration, Outcome.CONTINUE, reason, RATE_LIMIT_NEEDS)
    alert = None
    if consecutive == settings.rate_limit_alert_after:
        text = f"{consecutive} limits in a row: {reason}"
        alert = session_notice(files, NoticeKind.RATE_LIMITED, text)
    return RateLimitWait(seconds=seconds, consecutive=consecutive, alert=alert)
