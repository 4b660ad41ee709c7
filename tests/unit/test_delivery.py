"""The gate's decisions, the PR template, the status labels: pure parts of delivery."""

from __future__ import annotations

from pathlib import Path

from samoflow.delivery.checks import CheckResult, ChecksConfig, ChecksReport
from samoflow.delivery.gate import decide, green_at, red_rounds, says_changes_nothing
from samoflow.delivery.push import GH_TEMPLATE, pull_request_template, render
from samoflow.delivery.session_checks import verify_session
from samoflow.delivery.status import UNVERIFIED, verification_of
from samoflow.loop.judge import Verdict
from samoflow.loop.verification import gated, reaches_done
from samoflow.project import DeliveryConfig
from samoflow.session.history import HistoryEntry, Outcome, system_entry
from samoflow.session.phases import Phase
from samoflow.session.state import Standing
from tests.conftest import make_repo
from tests.support.checks import add_checks
from tests.support.sessions import new_session

CHECKS = ChecksConfig(commands=("make test",), max_rounds=2)
RED = ChecksReport(
    results=(
        CheckResult(
            command="make test",
            exit_code=2,
            duration_seconds=1.5,
            output_tail="\n".join(f"line {n}" for n in range(40)),
        ),
    )
)
GREEN = ChecksReport(
    results=(CheckResult(command="make test", exit_code=0, duration_seconds=1.0, output_tail=""),)
)


def _standing(phase: Phase) -> Standing:
    return Standing(
        phase=phase,
        phase_iterations=1,
        total_iterations=7,
        empty_streak=0,
        iterations_since_handoff=None,
        gate_answered=False,
    )


def test_red_goes_back_to_testing_then_blocks_at_max_rounds() -> None:
    first = decide(RED, 0, CHECKS, "abc", Phase.QUALITY)
    assert first.outcome is Outcome.CONTINUE and first.next_phase is Phase.TESTING
    assert first.sends_back and first.record.round == 1
    assert first.record.failed is not None and first.record.failed.output_tail.endswith("line 39")
    last = decide(RED, 1, CHECKS, "abc", Phase.QUALITY)
    assert last.outcome is Outcome.BLOCKED and last.next_phase is Phase.QUALITY
    assert last.reason is not None and "`make test` exit 2" in last.reason
    assert last.reason.endswith("line 39") and "line 24" not in last.reason
    assert decide(GREEN, 1, CHECKS, "abc", Phase.QUALITY).outcome is None


def _entry(checks_report: ChecksReport, round_number: int, outcome: Outcome) -> HistoryEntry:
    record = decide(checks_report, round_number - 1, CHECKS, "abc", Phase.TESTING).record
    return HistoryEntry(iteration=round_number, phase="testing", outcome=outcome, checks=record)


def test_rounds_count_since_the_last_block_and_green_is_reused_at_the_same_commit() -> None:
    red, blocked = _entry(RED, 1, Outcome.CONTINUE), _entry(RED, 2, Outcome.BLOCKED)
    assert red_rounds([red]) == 1
    assert red_rounds([red, blocked]) == 0
    resumed = system_entry(2, "testing", summary="unblocked")
    assert red_rounds([red, blocked, resumed, _entry(RED, 1, Outcome.CONTINUE)]) == 1
    green = _entry(GREEN, 2, Outcome.CONTINUE)
    assert green_at([red, green], "abc") is not None
    assert green_at([red, green], "def") is None and green_at([green, red], "abc") is None


def test_only_verdicts_that_reach_done_are_gated() -> None:
    done = Verdict(outcome=Outcome.DONE, next_phase=Phase.DONE)
    into_done = Verdict(outcome=Outcome.CONTINUE, next_phase=Phase.DONE)
    onward = Verdict(outcome=Outcome.CONTINUE, next_phase=Phase.QUALITY)
    assert reaches_done(done, _standing(Phase.DONE))
    assert reaches_done(into_done, _standing(Phase.QUALITY))
    assert not reaches_done(onward, _standing(Phase.TESTING))
    ran: list[object] = []

    def gate(state: object) -> None:
        ran.append(state)

    assert gated(onward, _standing(Phase.TESTING), gate, None) == (onward, None)
    assert gated(done, _standing(Phase.DONE), gate, {"changes": "none"}) == (done, None)
    assert ran == [{"changes": "none"}]  # the done signal's state reaches the gate
    assert says_changes_nothing({"changes": "none"}) and not says_changes_nothing("none")


def test_the_pull_request_template_quotes_each_value() -> None:
    rendered = render(
        GH_TEMPLATE,
        base="main",
        branch="samoflow/s1",
        title="add it; rm -rf /",
        body_file="/tmp/b.md",
    )
    assert rendered == (
        "gh pr create --base main --head samoflow/s1 --title 'add it; rm -rf /' "
        "--body-file /tmp/b.md"
    )
    assert pull_request_template(DeliveryConfig(pull_request="my-pr {branch}"), None) == (
        "my-pr {branch}"
    )
    assert pull_request_template(DeliveryConfig(pull_request=""), "git@github.com:a/b") is None
    assert pull_request_template(DeliveryConfig(), "/srv/git/project.git") is None


def test_status_says_unverified_without_checks(tmp_path: Path) -> None:
    plain = make_repo(tmp_path / "plain")
    assert verification_of(new_session(plain)).verified == UNVERIFIED
    checked = make_repo(tmp_path / "checked")
    add_checks(checked)
    assert verification_of(new_session(checked)).verified == "not checked yet"


def test_a_broken_config_at_the_gate_is_a_recorded_block_not_a_crash(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r")
    add_checks(repo)
    files = new_session(repo)
    (repo / ".samoflow.toml").write_text("[checks]\nmax_rounds = 'many'\n")
    decision = verify_session(files)
    assert decision is not None and decision.outcome is Outcome.BLOCKED
    assert decision.reason is not None and "not a valid samoflow config" in decision.reason


def test_the_gate_sends_uncommitted_work_back_before_running_anything(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r")
    add_checks(repo, ["touch ran-anyway"])
    files = new_session(repo)
    worktree = repo / ".samoflow/worktrees/s1"
    (worktree / "draft.txt").write_text("x")
    decision = verify_session(files)
    assert decision is not None and decision.sends_back
    assert decision.record.problem is not None and "commit your work" in decision.record.problem
    assert not (worktree / "ran-anyway").exists()
