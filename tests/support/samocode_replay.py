"""Replays the inputs of samocode's measured parity cases through samoflow's own code."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from samoflow.loop.iteration import begin_iteration, conclude_iteration
from samoflow.session.files import SessionFiles
from samoflow.session.gate import GateAnswer
from samoflow.session.history import read_history
from samoflow.session.overview import read_overview
from samoflow.session.spec import SessionSpec, write_spec
from samoflow.session.state import Lifecycle, load_state
from samoflow.session.store import record_gate_answer
from samoflow.settings import get_settings

OVERVIEW = (
    "# Session: s\n\n## Task\nDo it\n\n## Status\nPhase: {phase}\nIteration: 1\nBlocked: no\n"
)
STOPS = {Lifecycle.BLOCKED: "blocked", Lifecycle.DONE: "done", Lifecycle.WAITING: "waiting"}


def taken_over_folder(root: Path, phase: str | None) -> SessionFiles:
    """A samocode folder standing at `phase`, taken over (the spec samoflow writes for it)."""
    files = SessionFiles(root)
    root.mkdir(parents=True)
    if phase is not None:
        files.overview.write_text(OVERVIEW.format(phase=phase), encoding="utf-8")
    write_spec(
        files.spec,
        SessionSpec(
            name=root.name,
            task="Do it",
            repo=str(root),
            working_dir=str(root),
            branch="b",
            base_branch="main",
            taken_over_from="samocode",
        ),
    )
    return files


def iterate(files: SessionFiles, raw: str | None) -> None:
    """One iteration whose agent leaves `raw` as its signal (None: writes nothing)."""
    state = load_state(files)
    plan = begin_iteration(files, state)
    if raw is not None and raw != "MISSING":
        files.signal.write_text(raw, encoding="utf-8")
    conclude_iteration(files, state, plan, get_settings())


def overview_phase(files: SessionFiles) -> str | None:
    status = read_overview(files.overview)
    return status.phase if status else None


def signal_outcome(root: Path, phase: str, raw: str | None) -> dict[str, Any]:
    files = taken_over_folder(root, phase)
    iterate(files, raw)
    entry = read_history(files.history)[-1]
    status = entry.outcome.value
    return {"status": status, "needs": entry.needs, "phase_after": overview_phase(files)}


def _step_at(seq: list[Any], repeat_from: int, index: int) -> Any:
    if index < len(seq):
        return seq[index]
    return seq[repeat_from + (index - len(seq)) % (len(seq) - repeat_from)]


def loop_outcome(
    root: Path, start: str, steps: dict[str, Any], approve: bool, max_iter: int = 400
) -> dict[str, Any]:
    files = taken_over_folder(root, start)
    total = index = 0
    while total < max_iter:
        step = _step_at(steps["seq"], steps.get("repeat_from", 0), index)
        index += 1
        if step == "ANSWER":
            if load_state(files).lifecycle is Lifecycle.WAITING:
                record_gate_answer(files, GateAnswer(text="answered", approve=approve))
            continue
        total += 1
        iterate(files, json.dumps(step) if isinstance(step, dict) else step)
        stop = STOPS.get(load_state(files).lifecycle)
        if stop == "waiting" and steps.get("answer_each_wait"):
            continue
        if stop is not None:
            return {"stopped": stop, "at_iteration": total, "phase_after": overview_phase(files)}
    return {"stopped": "never", "at_iteration": total}
