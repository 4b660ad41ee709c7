"""Where a session stands, reconstructed from its files alone (the resume logic)."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from samoflow.session.files import SessionFiles
from samoflow.session.history import (
    EntryKind,
    HistoryEntry,
    Outcome,
    Usage,
    iterations,
    read_history,
    total_usage,
)
from samoflow.session.overview import read_overview
from samoflow.session.phases import Phase, parse_phase
from samoflow.session.spec import is_taken_over


class Standing(BaseModel):
    """What the history says about the session at the end of this iteration."""

    model_config = ConfigDict(frozen=True)

    phase: Phase
    phase_iterations: int  # iterations run in `phase`, this one included
    # samocode's count: earlier iterations that asked for each phase (stayed in or moved to it)
    requested_counts: dict[str, int] = {}
    total_iterations: int  # this one included
    empty_streak: int  # `{}` signals right before this one
    iterations_since_handoff: int | None  # None: never handed off
    gate_answered: bool  # a human answered this phase's gate


class Lifecycle(StrEnum):
    NEW = "new"
    ACTIVE = "active"
    WAITING = "waiting"  # paused at a human gate
    BLOCKED = "blocked"
    DONE = "done"
    STOPPED = "stopped"  # by a human: resumed by `samoflow run --session` or `resume`
    PAUSED = "paused"  # by a human, between iterations: `samoflow resume` lets it go on


# Nothing for an orchestrator to do until a human acts.
HELD = frozenset({Lifecycle.STOPPED, Lifecycle.PAUSED})


class SessionState(BaseModel):
    model_config = ConfigDict(frozen=True)

    phase: Phase
    lifecycle: Lifecycle
    last_iteration: int  # the highest iteration with a recorded outcome
    entries: tuple[HistoryEntry, ...]
    usage: Usage
    reason: str | None = None

    @property
    def next_iteration(self) -> int:
        return self.last_iteration + 1

    def standing_for(self, phase: Phase) -> Standing:
        """The standing of the iteration about to be judged (it counts itself)."""
        done = iterations(list(self.entries))
        streak = 0
        for entry in reversed(done):
            if not entry.empty_signal:
                break
            streak += 1
        handoffs = [e.iteration for e in done if e.outcome is Outcome.HANDOFF]
        requested: dict[str, int] = {}
        for entry in done:
            key = entry.next_phase or entry.phase
            requested[key] = requested.get(key, 0) + 1
        return Standing(
            phase=phase,
            phase_iterations=1 + sum(1 for e in done if e.phase == phase),
            requested_counts=requested,
            total_iterations=1 + len(done),
            empty_streak=streak,
            iterations_since_handoff=(self.next_iteration - handoffs[-1]) if handoffs else None,
            gate_answered=any(
                e.kind is EntryKind.ANSWER and e.phase == phase for e in self.entries
            ),
        )


def _lifecycle(last: HistoryEntry | None) -> Lifecycle:
    if last is None:
        return Lifecycle.NEW
    return {
        Outcome.DONE: Lifecycle.DONE,
        Outcome.BLOCKED: Lifecycle.BLOCKED,
        Outcome.WAITING: Lifecycle.WAITING,
        Outcome.STOPPED: Lifecycle.STOPPED,
        Outcome.PAUSED: Lifecycle.PAUSED,
    }.get(last.outcome, Lifecycle.ACTIVE)


def _samocode_phase(files: SessionFiles) -> Phase | None:
    """samocode's single source of truth: the overview's `Phase:` line."""
    status = read_overview(files.overview)
    return parse_phase(status.phase) if status is not None and status.phase else None


def load_state(files: SessionFiles) -> SessionState:
    """The history is the commit point: what it records happened, nothing else did.

    Until samoflow has recorded something of its own in a session samocode ran (rows without
    `outcome`, or a folder taken over before any row), the phase is samocode's overview line.
    """
    entries = read_history(files.history)
    last = entries[-1] if entries else None
    phase = Phase.INIT
    if (last is not None and last.from_samocode) or (last is None and is_taken_over(files)):
        phase = _samocode_phase(files) or Phase.INIT
    elif last is not None:
        phase = parse_phase(last.next_phase or last.phase) or Phase.INIT
    done = iterations(entries)
    return SessionState(
        phase=phase,
        lifecycle=_lifecycle(last),
        last_iteration=max((e.iteration for e in done), default=0),
        entries=tuple(entries),
        usage=total_usage(entries),
        reason=last.reason if last is not None else None,
    )


class SessionReport(BaseModel):
    """What a finished (or paused) session run hands back to its caller."""

    model_config = ConfigDict(frozen=True)

    session: str
    lifecycle: Lifecycle
    phase: Phase
    iterations: int
    reason: str | None
    summary: str | None
    usage: Usage
    # Context watch (Claude): the fullest the context got, and compactions, over the session.
    context_peak_tokens: int | None = None
    compactions: int = 0


def _system_last(state: SessionState) -> bool:
    return bool(state.entries) and state.entries[-1].kind is EntryKind.SYSTEM


def report_of(files: SessionFiles) -> SessionReport:
    state = load_state(files)
    summaries = [e.summary for e in state.entries if e.summary]
    return SessionReport(
        session=files.name,
        lifecycle=state.lifecycle,
        phase=state.phase,
        iterations=state.last_iteration,
        # A block's reason, or the orchestrator's latest note (e.g. a rate-limit wait).
        reason=state.reason
        if state.lifecycle is Lifecycle.BLOCKED or _system_last(state)
        else None,
        summary=summaries[-1] if summaries else None,
        usage=state.usage,
        context_peak_tokens=max((e.context_peak_tokens or 0 for e in state.entries), default=0)
        or None,
        compactions=sum(e.compactions for e in state.entries),
    )
