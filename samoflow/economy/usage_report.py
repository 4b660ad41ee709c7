"""The report hooks for any CLI: `SAMOFLOW_USAGE {json}` (tokens, USD) and rate limits.

Several such lines in one iteration add up. The JSON takes the fields of `Usage`
(input_tokens, output_tokens, cache_read_input_tokens, cache_creation_input_tokens, cost_usd).
"""

from __future__ import annotations

from pydantic import ValidationError

from samoflow.economy.rate_limit import RateLimit, from_output_line
from samoflow.economy.report_lines import RATE_LIMIT_PREFIX, USAGE_PREFIX
from samoflow.session.history import Usage


class UsageReportObserver:
    def __init__(self) -> None:
        self._usage = Usage()
        self._problem: str | None = None
        self._reported_limit: RateLimit | None = None
        self._seen_limit: RateLimit | None = None

    def feed(self, line: str) -> None:
        if not line.startswith(USAGE_PREFIX):
            limit = from_output_line(line)
            if limit is not None and line.startswith(RATE_LIMIT_PREFIX):
                self._reported_limit = limit
            elif limit is not None:
                self._seen_limit = limit
            return
        try:
            self._usage = self._usage + Usage.model_validate_json(line[len(USAGE_PREFIX) :])
        except ValidationError as error:
            # A bad report must not fail the iteration; it is kept for the log.
            self._problem = f"unreadable usage report: {error.errors()[0]['msg']}"

    def usage(self) -> Usage:
        return self._usage

    def error(self) -> str | None:
        return None

    def unhealable(self) -> str | None:
        return None

    def rate_limit(self, failed: bool) -> RateLimit | None:
        return self._reported_limit or (self._seen_limit if failed else None)

    def context(self) -> None:
        return None  # a generic CLI does not report its context

    @property
    def problem(self) -> str | None:
        return self._problem
