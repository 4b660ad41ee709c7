"""The one place that knows the file names inside a session folder (and the sessions root)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# The agent contract (samocode-compatible names).
OVERVIEW = "_overview.md"
HOOK = "_hook.json"
SIGNAL = "_signal.json"
HISTORY = "_signal_history.jsonl"
# `_signal_history.jsonl.quarantine-<time>`: unreadable rows moved aside, their bytes kept.
QUARANTINE_INFIX = ".quarantine-"
QA = "_qa.md"
HANDOFF = "_handoff.json"
INBOX = "_inbox"
OUTBOX = "_outbox"
LOGS = "_logs"
ORCHESTRATOR_LOG = "orchestrator.log"
PULL_REQUEST_BODY = "pull-request.md"  # under _logs/: the body delivery hands the PR command
WORKERS = "workers"
# The orchestrator's own state.
SPEC = "_session.json"
JOURNAL = "_iteration.json"
GATE = "_gate.json"
LEASE = "_lease.json"
LEASE_LOCK = "_lease.lock"
RESTARTS = "_restarts.json"
PROGRESS = "_progress.json"
STALL = "_stall.json"
CONTROL = "_control.json"
HOLD = "_hold.json"
BUDGET = "_budget.json"
WORKER_CONVOY = "_convoy.json"
# Folders directly under the sessions root (and the worktrees root) that are not sessions.
CONVOYS_DIR = "_convoys"
CONVOY_PULL_REQUEST = ".pull-request.md"  # suffix of a convoy's PR body, next to its record
NOTICES_DIR = "_notices"

# Written by samoflow, not by the agent: a change there says nothing about the agent's progress.
ORCHESTRATOR_NAMES = frozenset(
    {HOOK, JOURNAL, HISTORY, HANDOFF, SPEC, GATE, LEASE, LEASE_LOCK, RESTARTS, PROGRESS, STALL,
     CONTROL, HOLD, BUDGET, LOGS, INBOX}
)


def is_session_dir(path: Path) -> bool:
    """A folder samoflow created a session in (its spec is there)."""
    return (path / SPEC).exists()


@dataclass(frozen=True)
class SessionFiles:
    root: Path

    @property
    def is_worker(self) -> bool:
        """`<coordinator>/workers/<name>/` under a real session (roles.py owns the rule)."""
        return self.root.parent.name == WORKERS and is_session_dir(self.root.parent.parent)

    @property
    def name(self) -> str:
        """A worker's name is `<coordinator>--<worker>`: unique in the project, like its branch."""
        if self.is_worker:
            return f"{self.root.parent.parent.name}--{self.root.name}"
        return self.root.name

    @property
    def sessions_root(self) -> Path:
        return self.root.parent.parent.parent if self.is_worker else self.root.parent

    @property
    def spec(self) -> Path:
        return self.root / SPEC

    @property
    def overview(self) -> Path:
        return self.root / OVERVIEW

    @property
    def hook(self) -> Path:
        return self.root / HOOK

    @property
    def signal(self) -> Path:
        return self.root / SIGNAL

    @property
    def history(self) -> Path:
        return self.root / HISTORY

    def history_quarantine(self, stamp: str) -> Path:
        return self.root / f"{HISTORY}{QUARANTINE_INFIX}{stamp}"

    @property
    def qa(self) -> Path:
        return self.root / QA

    @property
    def handoff(self) -> Path:
        return self.root / HANDOFF

    @property
    def journal(self) -> Path:
        """The iteration in flight: which one, which attempt, which agent process."""
        return self.root / JOURNAL

    @property
    def gate(self) -> Path:
        return self.root / GATE

    @property
    def lease(self) -> Path:
        return self.root / LEASE

    @property
    def lease_lock(self) -> Path:
        return self.root / LEASE_LOCK

    @property
    def restarts(self) -> Path:
        return self.root / RESTARTS

    @property
    def progress(self) -> Path:
        return self.root / PROGRESS

    @property
    def stall(self) -> Path:
        return self.root / STALL

    @property
    def control(self) -> Path:
        return self.root / CONTROL

    @property
    def hold(self) -> Path:
        """A human's stop or pause, for the orchestrator to honour."""
        return self.root / HOLD

    @property
    def budget(self) -> Path:
        return self.root / BUDGET

    @property
    def logs(self) -> Path:
        return self.root / LOGS

    @property
    def orchestrator_log(self) -> Path:
        """Prefect's own log lines of a run started from the terminal (kept off the screen)."""
        return self.logs / ORCHESTRATOR_LOG

    @property
    def pull_request_body(self) -> Path:
        return self.logs / PULL_REQUEST_BODY

    @property
    def prompts(self) -> Path:
        return self.logs / "prompts"

    @property
    def inbox(self) -> Path:
        return self.root / INBOX

    @property
    def inbox_read(self) -> Path:
        return self.inbox / "read"

    @property
    def outbox(self) -> Path:
        return self.root / OUTBOX

    @property
    def workers(self) -> Path:
        return self.root / WORKERS

    @property
    def worker_convoy(self) -> Path:
        """A coordinator's convoy of its workers."""
        return self.workers / WORKER_CONVOY

    def iteration_log(self, iteration: int, attempt: int, phase: str) -> Path:
        return self.logs / f"{iteration:04d}-{phase}-attempt{attempt}.log"

    def prompt_file(self, iteration: int, attempt: int) -> Path:
        return self.prompts / f"{iteration:04d}-attempt{attempt}.md"
