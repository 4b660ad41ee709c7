import random
from datetime import UTC, datetime

from samoflow.economy.rate_limit import (
    RateLimit,
    from_api_error,
    from_output_line,
    parse_hint,
    wait_seconds,
)


def test_hints_name_the_reset() -> None:
    assert parse_hint("429: rate limited, retry after 30s") == 30
    assert parse_hint("Retry-After: 2.5 s") == 2.5
    start = datetime.fromtimestamp(1767225000, tz=UTC)
    assert parse_hint("Claude AI usage limit reached|1767225600", now=start) == 600
    assert parse_hint("overloaded") is None


def test_only_a_429_is_a_rate_limit() -> None:
    assert from_api_error(500, "boom") is None
    limit = from_api_error(429, "API Error: Request rejected (429) · retry after 7s")
    assert limit is not None and limit.retry_after_seconds == 7


def test_structured_and_generic_output_lines() -> None:
    reported = from_output_line('SAMOFLOW_RATE_LIMIT {"retry_after_seconds": 12}')
    assert reported == RateLimit(reason="reported by the agent", retry_after_seconds=12)
    generic = from_output_line("Error: Too Many Requests")
    assert generic is not None and generic.retry_after_seconds is None
    assert from_output_line("refactored the rate calculator") is None


def test_waits_double_for_repeated_limits_and_are_capped() -> None:
    limit = RateLimit(reason="x", retry_after_seconds=10)
    rng = random.Random(1)
    first = wait_seconds(limit, 1, default_seconds=60, max_seconds=100, rng=rng)
    third = wait_seconds(limit, 3, default_seconds=60, max_seconds=100, rng=rng)
    assert 10 <= first <= 11 and 40 <= third <= 44
    assert wait_seconds(limit, 9, default_seconds=60, max_seconds=100, rng=rng) == 100
    unknown = RateLimit(reason="x")
    assert 60 <= wait_seconds(unknown, 1, default_seconds=60, max_seconds=1000) <= 66
