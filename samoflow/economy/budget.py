"""The budget breaker: per-session limits in USD and tokens, a warning, and a raise.

`_budget.json` holds the session's own limits (set by `samoflow budget` or a convoy plan);
without it the session_budget_* settings apply. Tokens are all four kinds an agent reports
(input, output, cache writes, cache reads) because that is what an account's quota counts.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from samoflow.atomic import atomic_write_model, read_model
from samoflow.session.files import SessionFiles
from samoflow.session.history import Usage

BUDGET_NEEDS = "budget"


class BudgetLimits(BaseModel):
    model_config = ConfigDict(frozen=True)

    usd: float | None = Field(default=None, gt=0)
    tokens: int | None = Field(default=None, gt=0)
    warned: bool = False  # the warning went out for these limits


class BudgetState(StrEnum):
    OK = "ok"
    WARNING = "warning"
    OVER = "over"


class BudgetVerdict(BaseModel):
    model_config = ConfigDict(frozen=True)

    state: BudgetState
    text: str = ""


def budget_path(session_root: Path) -> Path:
    return SessionFiles(session_root).budget


def tokens_of(usage: Usage) -> int:
    return (
        usage.input_tokens
        + usage.output_tokens
        + usage.cache_read_input_tokens
        + usage.cache_creation_input_tokens
    )


def read_limits(session_root: Path, usd: float | None, tokens: int | None) -> BudgetLimits:
    path = budget_path(session_root)
    return read_model(path, BudgetLimits) or BudgetLimits(usd=usd, tokens=tokens)


def write_limits(session_root: Path, limits: BudgetLimits) -> None:
    atomic_write_model(budget_path(session_root), limits)


def describe(usage: Usage, limits: BudgetLimits) -> str:
    parts = []
    if limits.usd is not None:
        parts.append(f"${usage.cost_usd:.4f} of ${limits.usd:.2f}")
    if limits.tokens is not None:
        parts.append(f"{tokens_of(usage):,} of {limits.tokens:,} tokens")
    return ", ".join(parts)


def assess(usage: Usage, limits: BudgetLimits, warning_fraction: float) -> BudgetVerdict:
    """Over when any limit is reached; a warning when any passes the warning fraction."""
    fractions = []
    if limits.usd is not None:
        fractions.append(usage.cost_usd / limits.usd)
    if limits.tokens is not None:
        fractions.append(tokens_of(usage) / limits.tokens)
    if not fractions:
        return BudgetVerdict(state=BudgetState.OK)
    used = max(fractions)
    text = f"budget: {describe(usage, limits)} spent"
    if used >= 1:
        return BudgetVerdict(state=BudgetState.OVER, text=text)
    if used >= warning_fraction:
        return BudgetVerdict(state=BudgetState.WARNING, text=text)
    return BudgetVerdict(state=BudgetState.OK, text=text)
