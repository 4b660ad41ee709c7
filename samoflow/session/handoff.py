"""`_handoff.json`: state saved by an agent that asked for a fresh context."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from samoflow.atomic import atomic_write_model, read_model
from samoflow.clock import utcnow


class HandoffRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    from_iteration: int
    phase: str
    summary: str | None = None
    state: Any = None
    created_at: datetime = Field(default_factory=utcnow)
    consumed_by_iteration: int | None = None  # set once a fresh agent finished with it


def save_handoff(path: Path, record: HandoffRecord) -> None:
    atomic_write_model(path, record)


def pending_handoff(path: Path) -> HandoffRecord | None:
    """The handoff a fresh agent still has to pick up, if any; an unreadable one (a hand
    edit) is none, and the orchestrator sets it aside before its next act (repair.py)."""
    try:
        record = read_model(path, HandoffRecord)
    except (ValueError, OSError):
        return None
    return record if record is not None and record.consumed_by_iteration is None else None


def mark_consumed(path: Path, iteration: int) -> None:
    record = pending_handoff(path)
    if record is not None:
        save_handoff(path, record.model_copy(update={"consumed_by_iteration": iteration}))
