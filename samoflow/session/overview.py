"""`_overview.md`: read and update the Status fields, leave every other byte alone."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict

from samoflow.atomic import atomic_write_text
from samoflow.session.status_section import find_field, set_field

__all__ = ["OverviewStatus", "parse_status", "read_overview", "set_field", "update_overview"]


class OverviewStatus(BaseModel):
    """The samocode Status fields the orchestrator reads (Phase, Iteration, Total Iterations)."""

    model_config = ConfigDict(frozen=True)

    phase: str | None = None
    iteration: int | None = None
    total_iterations: int | None = None


def _as_int(value: str | None) -> int | None:
    return int(value) if value is not None and value.isdigit() else None


def parse_status(text: str) -> OverviewStatus:
    """Fields from the Status section (anywhere in the file when it has no Status section)."""
    return OverviewStatus(
        phase=find_field(text, "Phase"),
        iteration=_as_int(find_field(text, "Iteration")),
        total_iterations=_as_int(find_field(text, "Total Iterations")),
    )


def read_overview(path: Path) -> OverviewStatus | None:
    if not path.exists():
        return None
    return parse_status(path.read_text(encoding="utf-8", errors="replace"))


def update_overview(
    path: Path, *, phase: str | None = None, total: int | None = None, durable: bool = True
) -> None:
    """Rewrite the orchestrator-owned fields (Phase, Total Iterations) atomically."""
    if not path.exists():
        return
    text = path.read_text(encoding="utf-8", errors="replace")
    if phase is not None:
        text = set_field(text, "Phase", phase)
    if total is not None:
        text = set_field(text, "Total Iterations", str(total), after="Iteration")
    atomic_write_text(path, text, durable=durable)
