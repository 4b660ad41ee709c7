"""The checks runner: a project's check commands, each in its own process group, to a report.

Shared by the session gate and the convoy merge queue: `run_checks(worktree, checks, log_dir)`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from samoflow.agents.environment import SECRET_NAME
from samoflow.agents.process import run_process
from samoflow.project import ChecksConfig

__all__ = [
    "CheckResult",
    "ChecksConfig",
    "ChecksReport",
    "check_environment",
    "resolve_checks",
    "run_checks",
]

TAIL_LINES = 200  # what a red check hands back: its last lines, enough to act on
TAIL_CHARS = 20_000


class CheckResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    command: str
    exit_code: int | None  # None: it never exited by itself (killed at its timeout)
    duration_seconds: float
    output_tail: str  # the last ~200 lines, stdout and stderr interleaved
    timed_out: bool = False
    log_path: str | None = None  # the full output

    @property
    def passed(self) -> bool:
        return self.exit_code == 0 and not self.timed_out

    def describe(self) -> str:
        """One line a human or an agent reads: which check, how it ended, how long it took."""
        if self.timed_out:
            how = "timed out (killed)"
        elif self.exit_code == 0:
            how = "passed"
        else:
            how = f"exit {self.exit_code}"
        return f"`{self.command}` {how} in {self.duration_seconds:.1f}s"


class ChecksReport(BaseModel):
    """One round of checks; they stop at the first red one (later ones would not be read)."""

    model_config = ConfigDict(frozen=True)

    results: tuple[CheckResult, ...] = ()
    problem: str | None = None  # ground truth failed before any command ran (e.g. dirty tree)

    @property
    def passed(self) -> bool:
        return self.problem is None and all(result.passed for result in self.results)

    @property
    def failure(self) -> CheckResult | None:
        return next((result for result in self.results if not result.passed), None)

    @property
    def duration_seconds(self) -> float:
        return round(sum(result.duration_seconds for result in self.results), 3)

    def summary(self) -> str:
        if self.problem is not None:
            return self.problem
        failed = self.failure
        if failed is not None:
            return f"check {failed.describe()}"
        return f"{len(self.results)} check(s) green in {self.duration_seconds:.1f}s"


def check_environment() -> dict[str, str]:
    """This process's environment without samoflow's or Prefect's credentials."""
    return {name: value for name, value in os.environ.items() if not SECRET_NAME.search(name)}


def _log_name(label: str, index: int, command: str) -> str:
    slug = re.sub(r"[^a-zA-Z0-9]+", "-", command).strip("-")[:40] or "check"
    return f"{label}-{index}-{slug}.log"


def _last_lines(text: str) -> str:
    return "\n".join(text.splitlines()[-TAIL_LINES:])


def run_one_check(worktree: Path, command: str, timeout: float, log_path: Path) -> CheckResult:
    """`command` with the shell in `worktree`; killed with its whole group at `timeout`."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("a", encoding="utf-8") as log:
        log.write(f"$ {command}\n")
    outcome = run_process(
        ["/bin/sh", "-c", command],
        cwd=worktree,
        env=check_environment(),
        stdin_text=None,
        log_path=log_path,
        timeout_seconds=timeout,
        on_line=lambda line: None,
        tail_chars=TAIL_CHARS,
    )
    return CheckResult(
        command=command,
        exit_code=None if outcome.timed_out else outcome.exit_code,
        duration_seconds=outcome.duration_seconds,
        output_tail=_last_lines(outcome.output_tail),
        timed_out=outcome.timed_out,
        log_path=str(log_path),
    )


def run_checks(
    worktree: Path, checks: ChecksConfig, log_dir: Path, *, label: str = "checks"
) -> ChecksReport:
    """Every command in order until one is red; full output in `log_dir/<label>-<n>-*.log`."""
    if not worktree.is_dir():
        return ChecksReport(problem=f"the worktree {worktree} does not exist")
    results: list[CheckResult] = []
    for index, command in enumerate(checks.commands, start=1):
        log_path = log_dir / _log_name(label, index, command)
        result = run_one_check(worktree, command, checks.timeout_seconds, log_path)
        results.append(result)
        if not result.passed:
            break
    return ChecksReport(results=tuple(results))


def resolve_checks(
    project: ChecksConfig | None, own: tuple[str, ...] | None
) -> ChecksConfig | None:
    """The checks a session runs: its own commands over the project's; None: not configured."""
    if project is None and own is None:
        return None
    resolved = (project or ChecksConfig()).with_commands(own)
    return resolved if resolved.commands else None
