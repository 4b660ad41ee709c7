"""The phase registry: the single source of truth for every phase rule."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class Phase(StrEnum):
    INIT = "init"
    INVESTIGATION = "investigation"
    REQUIREMENTS = "requirements"
    PLANNING = "planning"
    IMPLEMENTATION = "implementation"
    TESTING = "testing"
    QUALITY = "quality"
    DONE = "done"


class SignalStatus(StrEnum):
    CONTINUE = "continue"
    DONE = "done"
    BLOCKED = "blocked"
    WAITING = "waiting"
    HANDOFF = "handoff"


class PhaseRule(BaseModel):
    model_config = ConfigDict(frozen=True)

    phase: Phase
    next_phases: tuple[Phase, ...]
    allowed_signals: frozenset[SignalStatus]
    iteration_limit: int
    gated: bool = False


_C, _D, _B, _W, _H = (
    SignalStatus.CONTINUE,
    SignalStatus.DONE,
    SignalStatus.BLOCKED,
    SignalStatus.WAITING,
    SignalStatus.HANDOFF,
)

# samocode's PHASE_CONFIGS, plus `handoff` wherever an agent does real work.
REGISTRY: dict[Phase, PhaseRule] = {
    rule.phase: rule
    for rule in (
        PhaseRule(
            phase=Phase.INIT,
            next_phases=(Phase.INVESTIGATION,),
            allowed_signals=frozenset({_C, _B}),
            iteration_limit=5,
        ),
        PhaseRule(
            phase=Phase.INVESTIGATION,
            next_phases=(Phase.REQUIREMENTS,),
            allowed_signals=frozenset({_C, _B, _H}),
            iteration_limit=20,
        ),
        PhaseRule(
            phase=Phase.REQUIREMENTS,
            next_phases=(Phase.PLANNING,),
            allowed_signals=frozenset({_C, _W, _B, _H}),
            iteration_limit=10,
            gated=True,
        ),
        PhaseRule(
            phase=Phase.PLANNING,
            next_phases=(Phase.IMPLEMENTATION,),
            allowed_signals=frozenset({_C, _W, _B, _H}),
            iteration_limit=10,
            gated=True,
        ),
        PhaseRule(
            phase=Phase.IMPLEMENTATION,
            next_phases=(Phase.TESTING, Phase.QUALITY),
            allowed_signals=frozenset({_C, _W, _B, _H}),
            iteration_limit=100,
        ),
        PhaseRule(
            phase=Phase.TESTING,
            next_phases=(Phase.QUALITY, Phase.DONE),
            allowed_signals=frozenset({_C, _B, _H}),
            iteration_limit=20,
        ),
        PhaseRule(
            phase=Phase.QUALITY,
            next_phases=(Phase.TESTING, Phase.DONE),
            allowed_signals=frozenset({_C, _B, _H}),
            iteration_limit=10,
        ),
        PhaseRule(
            phase=Phase.DONE,
            next_phases=(),
            allowed_signals=frozenset({_D, _B}),
            iteration_limit=3,
        ),
    )
}


def rule_for(phase: Phase) -> PhaseRule:
    return REGISTRY[phase]


def parse_phase(text: str) -> Phase | None:
    """The phase named by `text` (case and spaces ignored), or None when it is not a phase."""
    try:
        return Phase(text.strip().lower())
    except ValueError:
        return None
