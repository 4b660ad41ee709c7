import pytest

from samoflow.loop.judge import Limits, judge
from samoflow.session.history import Outcome
from samoflow.session.phases import Phase
from samoflow.session.signals import SignalReading, parse_signal_text
from samoflow.session.state import Standing

LIMITS = Limits(max_total_iterations=50, empty_signal_limit=3, handoff_cooldown_iterations=2)


def standing(phase: Phase, **changes: object) -> Standing:
    base = {
        "phase": phase,
        "phase_iterations": 1,
        "total_iterations": 1,
        "empty_streak": 0,
        "iterations_since_handoff": None,
        "gate_answered": False,
    }
    return Standing.model_validate({**base, **changes})


def signal(text: str) -> SignalReading:
    return parse_signal_text(text)


def test_allowed_transition_moves_the_phase() -> None:
    verdict = judge(
        signal('{"status":"continue","phase":"requirements"}'),
        standing(Phase.INVESTIGATION),
        LIMITS,
    )
    assert verdict.outcome is Outcome.CONTINUE and verdict.next_phase is Phase.REQUIREMENTS


def test_forbidden_transition_blocks_with_the_allowed_list() -> None:
    verdict = judge(
        signal('{"status":"continue","phase":"done"}'), standing(Phase.INVESTIGATION), LIMITS
    )
    assert verdict.outcome is Outcome.BLOCKED
    assert verdict.reason == "phase investigation cannot move to done (allowed: requirements)"
    assert verdict.next_phase is Phase.INVESTIGATION


def test_unknown_phase_blocks() -> None:
    verdict = judge(
        signal('{"status":"continue","phase":"deploy"}'), standing(Phase.TESTING), LIMITS
    )
    assert verdict.outcome is Outcome.BLOCKED and "unknown phase 'deploy'" in (verdict.reason or "")


def test_status_not_allowed_in_phase_blocks() -> None:
    verdict = judge(signal('{"status":"waiting","for":"qa"}'), standing(Phase.TESTING), LIMITS)
    assert verdict.reason == "status waiting is not allowed in phase testing"


def test_done_is_only_allowed_in_the_done_phase() -> None:
    assert (
        judge(signal('{"status":"done"}'), standing(Phase.QUALITY), LIMITS).outcome
        is Outcome.BLOCKED
    )
    assert judge(signal('{"status":"done"}'), standing(Phase.DONE), LIMITS).outcome is Outcome.DONE


@pytest.mark.parametrize("phase", [Phase.REQUIREMENTS, Phase.PLANNING])
def test_leaving_a_gated_phase_without_an_answer_blocks(phase: Phase) -> None:
    target = "planning" if phase is Phase.REQUIREMENTS else "implementation"
    reading = signal(f'{{"status":"continue","phase":"{target}"}}')
    assert judge(reading, standing(phase), LIMITS).outcome is Outcome.BLOCKED
    passed = judge(reading, standing(phase, gate_answered=True), LIMITS)
    assert passed.outcome is Outcome.CONTINUE and passed.next_phase.value == target


def test_waiting_and_blocked_never_move_the_phase() -> None:
    waiting = judge(
        signal('{"status":"waiting","phase":"planning","for":"qa"}'),
        standing(Phase.REQUIREMENTS),
        LIMITS,
    )
    assert waiting.outcome is Outcome.WAITING and waiting.next_phase is Phase.REQUIREMENTS
    blocked = judge(
        signal('{"status":"blocked","phase":"testing","reason":"no db"}'),
        standing(Phase.IMPLEMENTATION),
        LIMITS,
    )
    assert blocked.next_phase is Phase.IMPLEMENTATION and blocked.reason == "no db"


def test_empty_signal_continues_until_the_streak_limit() -> None:
    assert (
        judge(SignalReading(empty=True), standing(Phase.TESTING, empty_streak=1), LIMITS).outcome
        is Outcome.CONTINUE
    )
    verdict = judge(SignalReading(empty=True), standing(Phase.TESTING, empty_streak=2), LIMITS)
    assert verdict.outcome is Outcome.BLOCKED and "3 times in a row" in (verdict.reason or "")


def test_problem_blocks_with_the_problem_as_reason() -> None:
    verdict = judge(SignalReading(problem="signal file not created"), standing(Phase.INIT), LIMITS)
    assert verdict.outcome is Outcome.BLOCKED and verdict.reason == "signal file not created"


def test_phase_limit_counts_the_iterations_that_asked_for_the_phase() -> None:
    at_limit = standing(Phase.INIT, phase_iterations=6, requested_counts={"init": 5})
    stay = judge(signal('{"status":"continue"}'), at_limit, LIMITS)
    assert stay.outcome is Outcome.BLOCKED
    assert stay.reason == "Phase 'init' exceeded 5 iteration limit"
    moving = judge(signal('{"status":"continue","phase":"investigation"}'), at_limit, LIMITS)
    assert moving.outcome is Outcome.CONTINUE


def test_ping_pong_back_into_a_spent_phase_blocks() -> None:
    spent = standing(Phase.TESTING, requested_counts={"quality": 10, "testing": 10})
    verdict = judge(signal('{"status":"continue","phase":"quality"}'), spent, LIMITS)
    assert verdict.outcome is Outcome.BLOCKED and "'quality' exceeded 10" in (verdict.reason or "")


def test_waiting_is_limited_too() -> None:
    spent = standing(Phase.REQUIREMENTS, requested_counts={"requirements": 10})
    verdict = judge(signal('{"status":"waiting","for":"qa_answers"}'), spent, LIMITS)
    assert verdict.outcome is Outcome.BLOCKED


def test_total_limit_blocks() -> None:
    verdict = judge(
        signal('{"status":"continue"}'), standing(Phase.IMPLEMENTATION, total_iterations=50), LIMITS
    )
    assert verdict.reason == "session reached its limit of 50 iterations"


def test_handoff_inside_the_cooldown_is_a_loop() -> None:
    reading = signal('{"status":"handoff","state":{}}')
    fresh = judge(reading, standing(Phase.IMPLEMENTATION), LIMITS)
    assert fresh.outcome is Outcome.HANDOFF
    looped = judge(reading, standing(Phase.IMPLEMENTATION, iterations_since_handoff=1), LIMITS)
    assert looped.outcome is Outcome.BLOCKED and "handoff loop" in (looped.reason or "")
    later = judge(reading, standing(Phase.IMPLEMENTATION, iterations_since_handoff=2), LIMITS)
    assert later.outcome is Outcome.HANDOFF
