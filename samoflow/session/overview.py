"""`_overview.md`: read and update the Status fields, leave every other byte alone."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from samoflow.atomic import atomic_write_text

STATUS_HEADING = re.compile(r"^##\s+Status\s*$", re.MULTILINE)
NEXT_HEADING = re.compile(r"^##\s+", re.MULTILINE)


class OverviewStatus(BaseModel):
    """The samocode Status fields the orchestrator reads (Phase, Iteration, Total Iterations)."""

    model_config = ConfigDict(frozen=True)

    phase: str | None = None
    iteration: int | None = None
    total_iterations: int | None = None


def _status_span(text: str) -> tuple[int, int] | None:
    heading = STATUS_HEADING.search(text)
    if heading is None:
        return None
    following = NEXT_HEADING.search(text, heading.end())
    return heading.end(), following.start() if following else len(text)


def _field_pattern(name: str) -> re.Pattern[str]:
    return re.compile(rf"^{re.escape(name)}:[ \t]*(.*?)[ \t]*$", re.MULTILINE)


def _find_field(text: str, name: str) -> str | None:
    span = _status_span(text)
    region = text[span[0] : span[1]] if span else text
    match = _field_pattern(name).search(region)
    return match.group(1) if match else None


def _as_int(value: str | None) -> int | None:
    return int(value) if value is not None and value.isdigit() else None


def parse_status(text: str) -> OverviewStatus:
    """Fields from the Status section (anywhere in the file when it has no Status section)."""
    return OverviewStatus(
        phase=_find_field(text, "Phase"),
        iteration=_as_int(_find_field(text, "Iteration")),
        total_iterations=_as_int(_find_field(text, "Total Iterations")),
    )


def set_field(text: str, name: str, value: str, after: str | None = None) -> str:
    """Set `name: value` in the Status section; insert it (after `after`) when missing."""
    span = _status_span(text)
    if span is None and _field_pattern(name).search(text):
        # No Status section: samocode reads the first such line anywhere, so rewrite that one.
        return _field_pattern(name).sub(lambda _m: f"{name}: {value}", text, count=1)
    if span is None:
        sep = "" if text.endswith("\n") or not text else "\n"
        return f"{text}{sep}\n## Status\n{name}: {value}\n"
    start, end = span
    region = text[start:end]
    pattern = _field_pattern(name)
    if pattern.search(region):
        region = pattern.sub(lambda _m: f"{name}: {value}", region, count=1)
    else:
        anchor = _field_pattern(after).search(region) if after else None
        at = anchor.end() if anchor else len(region.rstrip("\n"))
        region = f"{region[:at]}\n{name}: {value}{region[at:]}"
        if not region.endswith("\n"):
            region += "\n"
    return text[:start] + region + text[end:]


def read_overview(path: Path) -> OverviewStatus | None:
    if not path.exists():
        return None
    return parse_status(path.read_text(encoding="utf-8", errors="replace"))


def update_overview(path: Path, *, phase: str | None = None, total: int | None = None) -> None:
    """Rewrite the orchestrator-owned fields (Phase, Total Iterations) atomically."""
    if not path.exists():
        return
    text = path.read_text(encoding="utf-8", errors="replace")
    if phase is not None:
        text = set_field(text, "Phase", phase)
    if total is not None:
        text = set_field(text, "Total Iterations", str(total), after="Iteration")
    atomic_write_text(path, text)
