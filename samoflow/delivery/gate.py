"""The checks gate's decisions, pure: a round's report -> done, back to testing, or blocked."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict

from samoflow.delivery.checks import ChecksConfig, ChecksReport
from samoflow.session.history import HistoryEntry, Outcome
from samoflow.session.phases import Phase
from samoflow.session.verification import CheckRun, ChecksRecord

REASON_LINES = 15  # of the failing check's output, in a block's reason


class GateDecision(BaseModel):
    """What the gate makes of the agent's `done`: `outcome` None keeps the agent's verdict."""

    model_config = ConfigDict(frozen=True)

    record: ChecksRecord
    outcome: Outcome | None = None
    next_phase: Phase | None = None
    reason: str | None = None

    @property
    def sends_back(self) -> bool:
        """Red with rounds left: the agent gets the failure and another go."""
        return self.outcome is Outcome.CONTINUE


def checks_records(entries: Iterable[HistoryEntry]) -> list[ChecksRecord]:
    return [entry.checks for entry in entries if entry.checks is not None]


def red_rounds(entries: Iterable[HistoryEntry]) -> int:
    """Red rounds since the session last blocked: a human who resumes it gives fresh rounds."""
    count = 0
    for entry in entries:
        if entry.checks is not None and not entry.checks.passed:
            count += 1
        if entry.outcome is Outcome.BLOCKED:
            count = 0
    return count


def green_at(entries: Iterable[HistoryEntry], head: str | None) -> ChecksRecord | None:
    """The last round, when it was green on exactly this commit (nothing changed since)."""
    records = checks_records(entries)
    last = records[-1] if records else None
    if head is not None and last is not None and last.passed and last.head == head:
        return last
    return None


def says_changes_nothing(state: Any) -> bool:
    """A done signal's `"state": {"changes": "none"}`: the task needed no commit."""
    return isinstance(state, dict) and str(state.get("changes", "")).lower() == "none"


def record_of(
    report: ChecksReport, round_number: int, checks: ChecksConfig, head: str | None
) -> ChecksRecord:
    runs = tuple(
        CheckRun(
            command=result.command,
            exit_code=result.exit_code,
            duration_seconds=result.duration_seconds,
            timed_out=result.timed_out,
            log=result.log_path,
            output_tail="" if result.passed else result.output_tail,
        )
        for result in report.results
    )
    return ChecksRecord(
        round=round_number,
        passed=report.passed,
        max_rounds=checks.max_rounds,
        runs=runs,
        problem=report.problem,
        head=head,
    )


def _last_lines(record: ChecksRecord) -> str:
    failed = record.failed
    text = record.problem or (failed.output_tail if failed else "")
    return "\n".join(text.splitlines()[-REASON_LINES:])


def decide(
    report: ChecksReport, red_before: int, checks: ChecksConfig, head: str | None, phase: Phase
) -> GateDecision:
    """Green keeps `done`; red goes back to testing; the max_rounds-th red blocks in `phase`."""
    record = record_of(report, red_before + 1, checks, head)
    if record.passed:
        return GateDecision(record=record)
    if record.round < checks.max_rounds:
        return GateDecision(
            record=record,
            outcome=Outcome.CONTINUE,
            next_phase=Phase.TESTING,
            reason=f"{record.headline()}; back to testing",
        )
    return GateDecision(
        record=record,
        outcome=Outcome.BLOCKED,
        next_phase=phase,
        reason=f"{record.headline()}; still red after {checks.max_rounds} rounds. "
        f"Last lines:\n{_last_lines(record)}",
    )


def pending_red(entries: Iterable[HistoryEntry]) -> ChecksRecord | None:
    """The last round, when it was red: what the agent must fix before `done` again."""
    records = checks_records(entries)
    return records[-1] if records and not records[-1].passed else None
