"""Human gates: a session waiting for an answer (`_gate.json`) and the answer itself."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from samoflow.atomic import atomic_write_model, read_model
from samoflow.clock import utcnow

MAX_ANSWER_CHARS = 20_000


class GateAnswer(BaseModel):
    """A human's answer. `approve` moves a gated phase on; otherwise the agent revises."""

    model_config = ConfigDict(frozen=True)

    text: str = Field(min_length=1, max_length=MAX_ANSWER_CHARS)
    approve: bool = True
    answered_by: str = "human"


class PendingGate(BaseModel):
    """Written when a session pauses, so `samoflow answer` can find the paused run."""

    model_config = ConfigDict(frozen=True)

    iteration: int
    phase: str
    for_: str | None = Field(default=None, alias="for")
    summary: str | None = None
    flow_run_id: str | None = None
    asked_at: datetime = Field(default_factory=utcnow)
    answer: GateAnswer | None = None  # an answer given while no run was paused


def write_gate(path: Path, gate: PendingGate) -> None:
    atomic_write_model(path, gate)


def read_gate(path: Path) -> PendingGate | None:
    return read_model(path, PendingGate)


def clear_gate(path: Path) -> None:
    path.unlink(missing_ok=True)
