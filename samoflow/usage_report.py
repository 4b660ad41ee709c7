"""The usage hook for any CLI: a stdout line `SAMOFLOW_USAGE {json}` reports tokens and USD.

Several such lines in one iteration add up. The JSON takes the fields of `Usage`
(input_tokens, output_tokens, cache_read_input_tokens, cache_creation_input_tokens, cost_usd).
"""

from __future__ import annotations

from pydantic import ValidationError

from samoflow.history import Usage

USAGE_PREFIX = "SAMOFLOW_USAGE "


class UsageReportObserver:
    def __init__(self) -> None:
        self._usage = Usage()
        self._problem: str | None = None

    def feed(self, line: str) -> None:
        if not line.startswith(USAGE_PREFIX):
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

    @property
    def problem(self) -> str | None:
        return self._problem
