"""The stall ladder: nudge -> handoff -> restart -> block, one step per decision.

The steps of the iteration in flight live in `_stall.json`; the watchdog (in the
orchestrator) and the stall handler (run by the automation, maybe in another process) both
decide under the session lock from that record, so a step is never taken twice. Every step
is also a SYSTEM entry of the signal history, with its reason. Steps that end the agent
(handoff, restart, block) reach the running orchestrator as a `_control.json` request.

A nudge that is followed by progress worked: the next stall starts over at a nudge. Steps
that ended an agent are kept for the whole iteration, so a hang that survives a fresh agent
climbs on and reaches a human (Gas Town: respawn at most a few times, then escalate).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from samoflow.atomic import atomic_write_model, read_model
from samoflow.clock import utcnow
from samoflow.health.lease import session_lock
from samoflow.inbox.messages import Message, MessageKind, new_message
from samoflow.session.files import SessionFiles
from samoflow.session.handoff import HandoffRecord, pending_handoff, save_handoff
from samoflow.session.history import Outcome, append_entry, system_entry
from samoflow.session.state import load_state

SENDER = "samoflow"


class StallAction(StrEnum):
    NUDGE = "nudge"
    HANDOFF = "handoff"
    RESTART = "restart"
    BLOCK = "block"


LADDER = (StallAction.NUDGE, StallAction.HANDOFF, StallAction.RESTART, StallAction.BLOCK)
# The steps that end the running agent; the orchestrator carries them out.
ENDS_AGENT = frozenset({StallAction.HANDOFF, StallAction.RESTART, StallAction.BLOCK})


class StallStep(BaseModel):
    model_config = ConfigDict(frozen=True)

    action: StallAction
    iteration: int
    attempt: int
    at: datetime
    idle_seconds: float
    reason: str
    by: str  # "watchdog" or "automation"


class StallLog(BaseModel):
    """`_stall.json`: the ladder steps taken in one iteration."""

    model_config = ConfigDict(frozen=True)

    iteration: int = 0
    steps: tuple[StallStep, ...] = ()

    def for_iteration(self, iteration: int) -> StallLog:
        return self if self.iteration == iteration else StallLog(iteration=iteration)


class ControlRequest(BaseModel):
    """`_control.json`: a step decided elsewhere, for the orchestrator's watchdog to carry out."""

    model_config = ConfigDict(frozen=True)

    step: StallStep
    requested_at: datetime


@dataclass(frozen=True)
class Thresholds:
    stall_seconds: float  # idle time that makes a stall
    escalate_seconds: float  # least time between two steps


@dataclass(frozen=True)
class Sighting:
    """A stall as one observer sees it: where, since when, and what was seen last."""

    iteration: int
    attempt: int
    progress_at: datetime
    last_seen: str
    now: datetime
    by: str

    @property
    def idle_seconds(self) -> float:
        return max(0.0, (self.now - self.progress_at).total_seconds())


def stall_path(files: SessionFiles) -> Path:
    return files.stall


def control_path(files: SessionFiles) -> Path:
    return files.control


def read_stall_log(files: SessionFiles) -> StallLog:
    path = stall_path(files)
    return read_model(path, StallLog) or StallLog()


def next_action(steps: Sequence[StallStep], progress_at: datetime) -> StallAction:
    """The rung after the last agent-ending step; a nudge again if the last nudge worked."""
    ended = [step for step in steps if step.action in ENDS_AGENT]
    if ended:
        return LADDER[min(LADDER.index(ended[-1].action) + 1, len(LADDER) - 1)]
    if not steps or progress_at > steps[-1].at:
        return StallAction.NUDGE
    return StallAction.HANDOFF


def step_due(steps: Sequence[StallStep], sighting: Sighting, thresholds: Thresholds) -> bool:
    if sighting.idle_seconds < thresholds.stall_seconds:
        return False
    if not steps:
        return True
    return (sighting.now - steps[-1].at).total_seconds() >= thresholds.escalate_seconds


def _reason(action: StallAction, sighting: Sighting) -> str:
    idle = f"no progress for {sighting.idle_seconds:.0f} s (last seen: {sighting.last_seen})"
    return {
        StallAction.NUDGE: f"{idle}: nudged the agent through its inbox",
        StallAction.HANDOFF: f"{idle} after a nudge: attempt {sighting.attempt} ends, "
        "a fresh agent continues from a handoff note",
        StallAction.RESTART: f"{idle} after a handoff: attempt {sighting.attempt} is killed "
        "and the iteration restarted",
        StallAction.BLOCK: f"stalled: {idle} after nudge, handoff and restart; blocked for a human",
    }[action]


def _record_in_history(files: SessionFiles, step: StallStep) -> None:
    """A SYSTEM entry that keeps the phase: only a block changes the session's lifecycle."""
    phase = load_state(files).phase.value
    append_entry(
        files.history,
        system_entry(
            step.iteration,
            phase,
            outcome=Outcome.BLOCKED if step.action is StallAction.BLOCK else Outcome.CONTINUE,
            summary=f"stall ladder: {step.action} (by the {step.by})",
            reason=step.reason,
        ),
    )


def take_step(files: SessionFiles, sighting: Sighting, thresholds: Thresholds) -> StallStep | None:
    """Decide and record the next step if one is due; None when not (or the lock stayed busy)."""
    with session_lock(files) as locked:
        if not locked:
            return None
        log = read_stall_log(files).for_iteration(sighting.iteration)
        if not step_due(log.steps, sighting, thresholds):
            return None
        action = next_action(log.steps, sighting.progress_at)
        step = StallStep(
            action=action,
            iteration=sighting.iteration,
            attempt=sighting.attempt,
            at=sighting.now,
            idle_seconds=round(sighting.idle_seconds, 1),
            reason=_reason(action, sighting),
            by=sighting.by,
        )
        # Recorded before it is carried out: a step is never taken without its reason.
        atomic_write_model(stall_path(files), log.model_copy(update={"steps": (*log.steps, step)}))
        _record_in_history(files, step)
        return step


def forget_block(files: SessionFiles, iteration: int) -> bool:
    """A human resumed a session this ladder blocked: the ladder starts over for it.

    Asked before every attempt; the usual answer (no block recorded for this iteration) is
    read without the session's lock: the log is replaced whole, never written in place, and
    the lease's heartbeat holds that lock now and then (a wait of 10 ms polls)."""

    def blocked(log: StallLog) -> bool:
        return log.iteration == iteration and any(
            step.action is StallAction.BLOCK for step in log.steps
        )

    if not blocked(read_stall_log(files)):
        return False
    with session_lock(files) as locked:
        if locked and blocked(read_stall_log(files)):  # again: a ladder may have moved on
            atomic_write_model(stall_path(files), StallLog(iteration=iteration))
            return True
        return False


def block_reason(files: SessionFiles, iteration: int, attempt: int) -> str | None:
    """The reason of a block step taken during this very attempt, if one was."""
    log = read_stall_log(files).for_iteration(iteration)
    for step in log.steps:
        if step.action is StallAction.BLOCK and step.attempt == attempt:
            return step.reason
    return None


def request_control(files: SessionFiles, step: StallStep) -> None:
    atomic_write_model(control_path(files), ControlRequest(step=step, requested_at=utcnow()))


def take_control(files: SessionFiles, iteration: int, attempt: int) -> StallStep | None:
    """The step requested for this attempt, removed as it is taken; stale or unreadable go too."""
    path = control_path(files)
    if not path.exists():
        return None
    try:
        step: StallStep | None = ControlRequest.model_validate_json(
            path.read_text(encoding="utf-8")
        ).step
    except (OSError, ValidationError):
        step = None
    path.unlink(missing_ok=True)
    if step is None or (step.iteration, step.attempt) != (iteration, attempt):
        return None
    return step


def nudge_message(files: SessionFiles, step: StallStep) -> Message:
    text = (
        f"samoflow noticed no progress for {step.idle_seconds:.0f} s in iteration "
        f"{step.iteration}. If you are stuck, say so: write _signal.json with status "
        '"blocked" and a reason, or "handoff" with your state if your context is full. '
        "Otherwise finish the one action of this phase and signal."
    )
    return new_message(
        files.name,
        text,
        sender=SENDER,
        kind=MessageKind.NUDGE,
        message_id=f"nudge-{step.iteration}-{step.at:%H%M%S}",
    )


def write_nudge(files: SessionFiles, message: Message) -> Path:
    """Straight into `_inbox/` (no Prefect needed): the agent's next turn lists it."""
    path = files.inbox / message.file_name
    atomic_write_model(path, message)
    return path


def leave_handoff_note(files: SessionFiles, step: StallStep) -> None:
    """The note a fresh agent starts from; an agent's own unconsumed handoff is kept instead."""
    if pending_handoff(files.handoff) is not None:
        return
    phase = load_state(files).phase.value
    save_handoff(
        files.handoff,
        HandoffRecord(
            from_iteration=step.iteration,
            phase=phase,
            summary=f"the previous agent stalled ({step.reason}); continue its action",
            state={
                "stalled_attempt": step.attempt,
                "its_log": str(files.iteration_log(step.iteration, step.attempt, phase)),
            },
        ),
    )
