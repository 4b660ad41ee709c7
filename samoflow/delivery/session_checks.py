"""The gate for one session: which checks, ground truth, the run itself, the agent's message."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from samoflow.delivery.checks import ChecksConfig, ChecksReport, resolve_checks, run_checks
from samoflow.delivery.gate import GateDecision, decide, green_at, red_rounds, says_changes_nothing
from samoflow.delivery.ground_truth import verify_ground_truth
from samoflow.project import ProjectError, load_config
from samoflow.session.files import SessionFiles
from samoflow.session.history import Outcome
from samoflow.session.spec import SessionSpec, read_spec
from samoflow.session.state import load_state
from samoflow.session.verification import ChecksRecord


def session_checks(spec: SessionSpec) -> ChecksConfig | None:
    """The project's `[checks]` with the session's own override; None: not configured."""
    return resolve_checks(load_config(Path(spec.repo)).checks, spec.checks)


def head_of(worktree: Path) -> str | None:
    done = subprocess.run(
        ["git", "-C", str(worktree), "rev-parse", "HEAD"], capture_output=True, text=True
    )
    return done.stdout.strip() if done.returncode == 0 else None


def verify_session(files: SessionFiles, done_state: Any = None) -> GateDecision | None:
    """Run the gate now (None when the session has no checks): ground truth, then the checks."""
    spec = read_spec(files.spec)
    state = load_state(files)
    try:
        checks = session_checks(spec)
    except ProjectError as error:  # recorded as a block, not a crashed flow run
        record = ChecksRecord(round=1, passed=False, max_rounds=1, problem=str(error))
        return GateDecision(
            record=record,
            outcome=Outcome.BLOCKED,
            next_phase=state.phase,
            reason=f"checks: {error}",
        )
    if checks is None:
        return None
    worktree = Path(spec.working_dir)
    truth = verify_ground_truth(
        worktree,
        spec.base_branch,
        expect_changes=not (spec.changes_nothing or says_changes_nothing(done_state)),
    )
    head = head_of(worktree)
    reused = green_at(state.entries, head) if truth.problem is None else None
    if reused is not None:
        return GateDecision(record=reused.model_copy(update={"reused": True}))
    if truth.problem is not None:
        report = ChecksReport(problem=truth.problem)
    else:
        label = f"{state.next_iteration:04d}-checks-round{red_rounds(state.entries) + 1}"
        report = run_checks(worktree, checks, files.logs, label=label)
    return decide(report, red_rounds(state.entries), checks, head, state.phase)


def check_failure_text(record: ChecksRecord) -> str:
    """The inbox message the agent gets: what failed, how, and its output's last lines."""
    lines = [
        f"The project's checks are red (round {record.round} of {record.max_rounds}); "
        "the session is back in testing. Fix the cause, commit, and move to done again.",
    ]
    failed = record.failed
    if record.problem is not None:
        lines += ["", record.problem]
    elif failed is not None:
        status = "timed out (killed)" if failed.timed_out else f"exit code {failed.exit_code}"
        lines += [
            "",
            f"command: {failed.command}",
            f"result: {status}",
            f"duration: {failed.duration_seconds:.1f}s",
            f"full log: {failed.log}",
            "",
            "last lines of its output:",
            "```",
            failed.output_tail,
            "```",
        ]
    return "\n".join(lines)
