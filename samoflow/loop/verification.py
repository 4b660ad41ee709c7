"""Where the checks gate meets the judge: which verdicts reach `done`, and what red does."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from samoflow.delivery.gate import GateDecision
from samoflow.loop.judge import Verdict
from samoflow.session.history import Outcome
from samoflow.session.phases import Phase
from samoflow.session.state import Standing
from samoflow.session.verification import ChecksRecord

# Runs the gate (the flow gives a Prefect task); gets the done signal's `state`.
Gate = Callable[[Any], GateDecision | None]


def reaches_done(verdict: Verdict, standing: Standing) -> bool:
    """The agent signals `done`, or moves into the done phase from another one."""
    if verdict.outcome is Outcome.DONE:
        return True
    entering = verdict.next_phase is Phase.DONE and standing.phase is not Phase.DONE
    return entering and verdict.outcome in (Outcome.CONTINUE, Outcome.HANDOFF)


def gated(
    verdict: Verdict, standing: Standing, gate: Gate | None, state: Any
) -> tuple[Verdict, ChecksRecord | None]:
    """The verdict after the gate: unchanged when green or not configured, else the gate's."""
    if gate is None or not reaches_done(verdict, standing):
        return verdict, None
    decision = gate(state)
    if decision is None:
        return verdict, None
    if decision.outcome is None:
        return verdict, decision.record
    changed = Verdict(
        outcome=decision.outcome,
        next_phase=decision.next_phase or standing.phase,
        reason=decision.reason,
        needs="checks" if decision.outcome is Outcome.BLOCKED else None,
    )
    return changed, decision.record
