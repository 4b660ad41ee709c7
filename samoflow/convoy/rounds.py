"""Merge-queue rounds: one record per attempt to land a member on the integration branch.

A round ends `landed` (merged; `verified` when the project's checks ran green on the
integration worktree, None when no checks are configured), `conflict` or `red` (the
integration branch was moved back), or `failed` (git refused for another reason).
A member's failed rounds (conflict or red) are bounded by the checks' `max_rounds`.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from samoflow.clock import utcnow


class RoundVerdict(StrEnum):
    LANDED = "landed"
    CONFLICT = "conflict"
    RED = "red"
    FAILED = "failed"


ALREADY_MERGED = "already merged"
FIXABLE = frozenset({RoundVerdict.CONFLICT, RoundVerdict.RED})


class MergeRound(BaseModel):
    model_config = ConfigDict(frozen=True)

    number: int = Field(ge=1)  # this member's attempts, 1 first
    verdict: RoundVerdict
    at: datetime = Field(default_factory=utcnow)
    commit: str | None = None  # the merge commit that landed, or the one rolled back
    files: tuple[str, ...] = ()  # conflicting files
    check: str | None = None  # the failing check's command
    tail: str | None = None  # the failing check's last lines
    verified: bool | None = None  # landed: True checks green, None no checks configured
    detail: str | None = None

    def describe(self) -> str:
        if self.verdict is RoundVerdict.CONFLICT:
            return f"conflict in {', '.join(self.files) or '?'}"
        if self.verdict is RoundVerdict.RED:
            return f"check `{self.check}` red"
        if self.verdict is RoundVerdict.FAILED:
            return f"merge failed: {self.detail}"
        if self.detail == ALREADY_MERGED:
            return ALREADY_MERGED
        return "landed, checks green" if self.verified else "landed, unverified"


class PendingMerge(BaseModel):
    """Written before a merge starts, cleared when its round is recorded: a convoy that finds
    one after a crash moves the integration branch back to `old_head` first."""

    model_config = ConfigDict(frozen=True)

    member: str
    old_head: str
    started_at: datetime = Field(default_factory=utcnow)


def failed_rounds(rounds: tuple[MergeRound, ...]) -> int:
    return sum(1 for r in rounds if r.verdict in FIXABLE)


def verified_label(rounds: tuple[MergeRound, ...]) -> str:
    """The convoy table's `verified` column: checks green / red round N / not configured."""
    if not rounds:
        return "-"
    last = rounds[-1]
    if last.verdict is RoundVerdict.LANDED and last.detail == ALREADY_MERGED:
        return ALREADY_MERGED  # nothing of its own to check: the integration branch had it
    if last.verdict is RoundVerdict.LANDED:
        return "checks green" if last.verified else "unverified (no checks)"
    if last.verdict is RoundVerdict.RED:
        return f"red round {last.number}"
    return f"{last.verdict.value} round {last.number}"


def rounds_line(member: str, rounds: tuple[MergeRound, ...]) -> str:
    """`b: 1 red (check `make test` red), 2 landed, checks green`."""
    parts = [f"{r.number} {r.describe()}" for r in rounds]
    return f"{member}: " + "; ".join(parts) if parts else f"{member}: not merged"
