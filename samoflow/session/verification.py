"""What the history records about verification: a round of checks, a delivery (DESIGN §9)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class CheckRun(BaseModel):
    """One check command as it ran; only a red one keeps its output's last lines."""

    model_config = ConfigDict(frozen=True)

    command: str
    exit_code: int | None
    duration_seconds: float
    timed_out: bool = False
    log: str | None = None
    output_tail: str = ""

    @property
    def passed(self) -> bool:
        return self.exit_code == 0 and not self.timed_out


class ChecksRecord(BaseModel):
    """One round of the gate: green, or red with the check (or ground truth) that failed."""

    model_config = ConfigDict(frozen=True)

    round: int  # red rounds are numbered 1..max_rounds; a green one carries the next number
    passed: bool
    max_rounds: int
    runs: tuple[CheckRun, ...] = ()
    problem: str | None = None  # ground truth (a dirty tree, no commits) instead of a command
    head: str | None = None  # the commit the checks ran on
    reused: bool = False  # green at this very commit already: not run again

    @property
    def failed(self) -> CheckRun | None:
        return next((run for run in self.runs if not run.passed), None)

    def headline(self) -> str:
        if self.passed:
            where = f" at {self.head[:10]}" if self.head else ""
            return f"checks green{where} ({len(self.runs)} command(s))"
        failed = self.failed
        if self.problem is not None or failed is None:
            what = self.problem or "checks red"
        elif failed.timed_out:
            what = f"`{failed.command}` timed out after {failed.duration_seconds:.0f}s"
        else:
            what = f"`{failed.command}` exit {failed.exit_code}"
        return f"checks red (round {self.round} of {self.max_rounds}): {what.splitlines()[0]}"


class DeliveryRecord(BaseModel):
    """Where green work went: the pushed branch and the pull request, or why not."""

    model_config = ConfigDict(frozen=True)

    remote: str | None = None
    branch: str | None = None
    pushed: bool = False
    pull_request_url: str | None = None
    error: str | None = None
