"""Turn an agent's signal into the orchestrator's decision, by the phase registry's rules."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from samoflow.session.history import Outcome
from samoflow.session.phases import Phase, SignalStatus, parse_phase, rule_for
from samoflow.session.signals import SignalReading
from samoflow.session.state import Standing


class Limits(BaseModel):
    model_config = ConfigDict(frozen=True)

    max_total_iterations: int
    empty_signal_limit: int
    handoff_cooldown_iterations: int


class Verdict(BaseModel):
    model_config = ConfigDict(frozen=True)

    outcome: Outcome
    next_phase: Phase
    reason: str | None = None
    needs: str | None = None


GATE_REASON = (
    "{phase} is a human gate: signal `waiting` and get an answer before moving to {target}"
)


def _blocked(standing: Standing, reason: str, needs: str = "investigation") -> Verdict:
    return Verdict(outcome=Outcome.BLOCKED, next_phase=standing.phase, reason=reason, needs=needs)


def _target_phase(reading: SignalReading, standing: Standing) -> Phase | str:
    """The phase the agent asks for: a Phase, or the error text when it cannot be one."""
    assert reading.signal is not None
    requested = reading.signal.phase
    if requested is None or not requested.strip():
        return standing.phase
    target = parse_phase(requested)
    if target is None:
        return f"signal names an unknown phase {requested!r}"
    if target is standing.phase:
        return target
    rule = rule_for(standing.phase)
    if target not in rule.next_phases:
        allowed = ", ".join(rule.next_phases) or "none"
        return f"phase {standing.phase} cannot move to {target} (allowed: {allowed})"
    if rule.gated and not standing.gate_answered:
        return GATE_REASON.format(phase=standing.phase, target=target)
    return target


def judge(reading: SignalReading, standing: Standing, limits: Limits) -> Verdict:
    verdict = _judge_signal(reading, standing, limits)
    if verdict.outcome in (Outcome.CONTINUE, Outcome.HANDOFF, Outcome.WAITING):
        return _apply_limits(verdict, standing, limits)
    return verdict


def _judge_signal(reading: SignalReading, standing: Standing, limits: Limits) -> Verdict:
    if reading.problem is not None:
        return _blocked(standing, reading.problem)
    if reading.empty:
        if SignalStatus.CONTINUE not in rule_for(standing.phase).allowed_signals:
            # samocode: `{}` means continue, and continue is not a signal of this phase
            return _blocked(standing, f"status continue is not allowed in phase {standing.phase}")
        if standing.empty_streak + 1 >= limits.empty_signal_limit:
            return _blocked(
                standing, f"agent left an empty signal {standing.empty_streak + 1} times in a row"
            )
        return Verdict(outcome=Outcome.CONTINUE, next_phase=standing.phase)
    signal = reading.signal
    assert signal is not None
    rule = rule_for(standing.phase)
    if signal.status not in rule.allowed_signals:
        return _blocked(
            standing, f"status {signal.status} is not allowed in phase {standing.phase}"
        )
    if signal.status is SignalStatus.BLOCKED:
        return _blocked(standing, signal.reason or "agent reported blocked", signal.needs or "")
    if signal.status is SignalStatus.WAITING:
        return Verdict(outcome=Outcome.WAITING, next_phase=standing.phase, needs=signal.needs)
    if signal.status is SignalStatus.DONE:
        return Verdict(outcome=Outcome.DONE, next_phase=Phase.DONE)
    target = _target_phase(reading, standing)
    if not isinstance(target, Phase):  # Phase is a str too: test for it, not for str
        gate = "is a human gate" in target
        return _blocked(standing, target, "human_decision" if gate else "investigation")
    if signal.status is SignalStatus.HANDOFF:
        since = standing.iterations_since_handoff
        if since is not None and since < limits.handoff_cooldown_iterations:
            return _blocked(
                standing,
                f"handoff loop: handed off again {since} iteration(s) after the last handoff "
                f"(cooldown {limits.handoff_cooldown_iterations})",
            )
        return Verdict(outcome=Outcome.HANDOFF, next_phase=target)
    return Verdict(outcome=Outcome.CONTINUE, next_phase=target)


def _apply_limits(verdict: Verdict, standing: Standing, limits: Limits) -> Verdict:
    if standing.total_iterations >= limits.max_total_iterations:
        return _blocked(
            standing, f"session reached its limit of {limits.max_total_iterations} iterations"
        )
    # samocode's rule: the iterations that asked for a phase, this one included, may not exceed
    # its limit; it catches a phase left and re-entered (testing <-> quality ping-pong) too.
    target = verdict.next_phase
    limit = rule_for(target).iteration_limit
    if standing.requested_counts.get(target.value, 0) + 1 > limit:
        return _blocked(standing, f"Phase '{target}' exceeded {limit} iteration limit")
    return verdict
