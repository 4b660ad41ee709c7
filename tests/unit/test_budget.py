from samoflow.economy.budget import BudgetLimits, BudgetState, assess, tokens_of
from samoflow.session.history import Usage


def usage(cost: float, tokens: int = 0) -> Usage:
    return Usage(cost_usd=cost, input_tokens=tokens)


def test_no_limits_is_always_ok() -> None:
    assert assess(usage(1e6), BudgetLimits(), 0.8).state is BudgetState.OK


def test_warning_then_over_in_usd() -> None:
    limits = BudgetLimits(usd=10)
    assert assess(usage(7.9), limits, 0.8).state is BudgetState.OK
    assert assess(usage(8.0), limits, 0.8).state is BudgetState.WARNING
    over = assess(usage(10.0), limits, 0.8)
    assert over.state is BudgetState.OVER and over.text == "budget: $10.0000 of $10.00 spent"


def test_the_tightest_limit_decides() -> None:
    limits = BudgetLimits(usd=100, tokens=1000)
    assert assess(usage(1, tokens=1000), limits, 0.8).state is BudgetState.OVER


def test_tokens_count_every_kind() -> None:
    all_kinds = Usage(
        input_tokens=1, output_tokens=2, cache_read_input_tokens=3, cache_creation_input_tokens=4
    )
    assert tokens_of(all_kinds) == 10
