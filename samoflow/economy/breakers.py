"""Circuit breakers of the agent economy: the session budget, on disk (limits: accounts).

They decide and record (history entries); the flow only tells humans.
"""

from __future__ import annotations

from samoflow.economy.budget import (
    BUDGET_NEEDS,
    BudgetLimits,
    BudgetState,
    assess,
    describe,
    read_limits,
    write_limits,
)
from samoflow.notices.notice import Notice, NoticeKind, session_notice
from samoflow.session.files import SessionFiles
from samoflow.session.history import Outcome, append_entry, system_entry
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
