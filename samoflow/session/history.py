"""`_signal_history.jsonl`: every iteration's raw signal next to the orchestrator's decision."""

from __future__ import annotations

import json
from datetime import datetime
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from samoflow.atomic import atomic_append_line
from samoflow.clock import utcnow
from samoflow.session.verification import ChecksRecord, DeliveryRecord


class EntryKind(StrEnum):
    ITERATION = "iteration"  # one agent iteration, recorded exactly once
    ANSWER = "answer"  # a human answered a gate
    SYSTEM = "system"  # a decision taken without an agent (limits, watchdog, restarts)


class Outcome(StrEnum):
    CONTINUE = "continue"
    DONE = "done"
    BLOCKED = "blocked"
    WAITING = "waiting"
    HANDOFF = "handoff"
    ANSWERED = "answered"
    STOPPED = "stopped"  # a human ended the running attempt; `samoflow run --session` resumes
    PAUSED = "paused"  # a human held it after an iteration; `samoflow resume` lets it go on


class Usage(BaseModel):
    """Tokens and dollars an agent reported for one iteration."""

    model_config = ConfigDict(frozen=True)

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cost_usd: float = 0.0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cache_read_input_tokens=self.cache_read_input_tokens + other.cache_read_input_tokens,
            cache_creation_input_tokens=self.cache_creation_input_tokens
            + other.cache_creation_input_tokens,
            cost_usd=round(self.cost_usd + other.cost_usd, 8),
        )


class HistoryEntry(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True)

    kind: EntryKind = EntryKind.ITERATION
    timestamp: datetime = Field(default_factory=utcnow)
    iteration: int
    phase: str
    status: str | None = None  # the agent's raw status; None when it gave none
    outcome: Outcome
    next_phase: str | None = None
    summary: str | None = None
    reason: str | None = None
    needs: str | None = None
    for_: str | None = Field(default=None, alias="for")
    attempts: int = 1
    duration_seconds: float = 0.0
    usage: Usage = Field(default_factory=Usage)
    empty_signal: bool = False
    # Read from a row samocode wrote (no `outcome`); never written back.
    from_samocode: bool = Field(default=False, exclude=True)
    # Context watch (Claude): the peak context use of the iteration, its window, compactions.
    context_peak_tokens: int | None = None
    context_window_tokens: int | None = None
    compactions: int = 0
    checks: ChecksRecord | None = None  # the gate ran before this outcome was decided
    delivery: DeliveryRecord | None = None  # push and pull request after a green done


def system_entry(
    iteration: int,
    phase: str,
    *,
    outcome: Outcome = Outcome.CONTINUE,
    summary: str | None = None,
    reason: str | None = None,
    needs: str | None = None,
) -> HistoryEntry:
    """A decision taken without an agent: it keeps the phase; only its outcome may change the
    session's lifecycle (a block)."""
    return HistoryEntry(
        kind=EntryKind.SYSTEM,
        iteration=iteration,
        phase=phase,
        outcome=outcome,
        next_phase=phase,
        summary=summary,
        reason=reason,
        needs=needs,
    )


def append_entry(path: Path, entry: HistoryEntry) -> None:
    atomic_append_line(path, entry.model_dump_json(by_alias=True))


class HistoryError(ValueError):
    """The history file has a line that is not a history entry."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line  # 1-based, counted in `\n`-separated lines of the file's bytes


def _why(error: Exception) -> str:
    """One line a human can read (pydantic's own message spans many lines)."""
    if isinstance(error, ValidationError):
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "the row"
        more = f" (+{error.error_count() - 1} more)" if error.error_count() > 1 else ""
        return f"{where}: {first['msg']}{more}"
    return str(error).splitlines()[0] if str(error) else type(error).__name__


def _text(value: object) -> str | None:
    return value if value is None or isinstance(value, str) else json.dumps(value)


def _from_samocode_row(data: dict[str, object], position: int) -> HistoryEntry:
    """samocode's row: its `phase` is the phase the signal asked for, `iteration` restarts at
    1 with every run of its loop, so the row's position is its session-wide number."""
    phase = str(data.get("phase") or "").lower()
    status = str(data.get("status") or "")
    return HistoryEntry.model_validate(
        {
            **{key: _text(data.get(key)) for key in ("summary", "reason", "needs", "for")},
            "iteration": position,
            "phase": phase,
            "next_phase": phase or None,
            "status": status,
            "outcome": status if status in {o.value for o in Outcome} else Outcome.BLOCKED,
            "from_samocode": True,
        }
    )


# path -> (the file's identity when parsed, its entries): the loop reads the history several
# times per iteration and it only grows; parsing all of it each time is O(iterations).
_PARSED: dict[Path, tuple[tuple[int, int, int, int], tuple[HistoryEntry, ...]]] = {}
_PARSED_MAX = 256


def read_history(path: Path) -> list[HistoryEntry]:
    """The entries; parsed again only when the file is another one (every write replaces
    it: a new inode, a new size) or was changed in place (mtime, ctime)."""
    try:
        found = path.stat()
    except FileNotFoundError:
        return []
    identity = (found.st_ino, found.st_size, found.st_mtime_ns, found.st_ctime_ns)
    cached = _PARSED.get(path)
    if cached is not None and cached[0] == identity:
        return list(cached[1])
    entries = parse_history(path.read_bytes(), path.name)
    if len(_PARSED) >= _PARSED_MAX:
        _PARSED.clear()
    _PARSED[path] = (identity, tuple(entries))
    return entries


def parse_history(raw: bytes, name: str = "history") -> list[HistoryEntry]:
    """Rows split on `\n` only: a summary holding U+2028 stays one row."""
    entries: list[HistoryEntry] = []
    for number, line in enumerate(raw.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            if isinstance(data, dict) and "outcome" not in data and "status" in data:
                entries.append(_from_samocode_row(data, len(entries) + 1))
                continue
            entries.append(HistoryEntry.model_validate(data))
        except (json.JSONDecodeError, ValidationError, UnicodeDecodeError) as error:
            raise HistoryError(
                f"{name} line {number} is unreadable: {_why(error)}", line=number
            ) from error
    return entries


def iterations(entries: list[HistoryEntry]) -> list[HistoryEntry]:
    return [entry for entry in entries if entry.kind is EntryKind.ITERATION]


def total_usage(entries: list[HistoryEntry]) -> Usage:
    total = Usage()
    for entry in entries:
        total = total + entry.usage
    return total
