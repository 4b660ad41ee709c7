"""The daily budget of an account: spend per UTC day in USD and tokens, and its pause.

Crossing either cap pauses the account like a usage limit, until the next UTC day or a
raise (`samoflow limits budget ACCOUNT --usd N`). Limits by hand beat the settings.
"""

from __future__ import annotations

from datetime import datetime

from samoflow.economy.accounts import (
    AccountState,
    AccountStatus,
    PauseCause,
    next_day,
    resumed,
    utc_day,
)
from samoflow.economy.budget import tokens_of
from samoflow.session.history import Usage
from samoflow.settings import Settings


def caps(status: AccountStatus, settings: Settings) -> tuple[float | None, int | None]:
    return (
        status.budget_usd or settings.account_daily_budget_usd,
        status.budget_tokens or settings.account_daily_budget_tokens,
    )


def over_caps(status: AccountStatus, settings: Settings) -> str | None:
    """Why the day's spend is over a cap, or None."""
    usd, tokens = caps(status, settings)
    if usd is not None and status.spent_usd >= usd:
        return f"daily budget: ${status.spent_usd:.4f} of ${usd:.2f} spent on {status.day}"
    if tokens is not None and status.spent_tokens >= tokens:
        return f"daily budget: {status.spent_tokens:,} of {tokens:,} tokens spent on {status.day}"
    return None


def add_spend(
    status: AccountStatus, usage: Usage, now: datetime, settings: Settings
) -> AccountStatus:
    """An iteration's spend; a new day starts from zero; over a cap pauses the account."""
    today = utc_day(now)
    base = (
        status
        if status.day == today
        else status.model_copy(update={"day": today, "spent_usd": 0.0, "spent_tokens": 0})
    )
    spent = base.model_copy(
        update={
            "spent_usd": round(base.spent_usd + usage.cost_usd, 6),
            "spent_tokens": base.spent_tokens + tokens_of(usage),
        }
    )
    reason = over_caps(spent, settings)
    if reason is None or spent.state is not AccountState.ACTIVE:
        return spent
    return spent.model_copy(
        update={
            "state": AccountState.PAUSED,
            "cause": PauseCause.BUDGET,
            "until": next_day(now),
            "reason": reason,
            "window": "day",
            "pause_id": spent.pause_id + 1,
            "paused_at": now,
        }
    )


def raise_budget(
    status: AccountStatus, usd: float | None, tokens: int | None, settings: Settings
) -> AccountStatus:
    """New caps; a budget pause the new caps lift ends now."""
    raised = status.model_copy(
        update={
            "budget_usd": usd if usd is not None else status.budget_usd,
            "budget_tokens": tokens if tokens is not None else status.budget_tokens,
        }
    )
    if raised.cause is PauseCause.BUDGET and over_caps(raised, settings) is None:
        return resumed(raised)
    return raised
