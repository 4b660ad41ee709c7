"""Convoys: a plan file of sessions run as one batch, and its record on disk.

Layout, one file per convoy so a project can hold several:
- `<sessions>/_convoys/<name>.json`: a convoy started from a plan (`samoflow convoy plan.toml`);
- `<sessions>/<coordinator>/workers/_convoy.json`: the workers a coordinator asked for.
The record is written atomically by the convoy flow only (its threads return reports; the
flow's main thread writes). A member's state is a cache of its session files, which stay the
truth: a re-run reconciles from them and never runs a finished member again.

Completion notice, exactly once: the flow builds the message, queues it in the outbox under
the key `convoy-<id>-complete` (the outbox refuses a key it already holds), then records
`notice.queued_at` + the message hash here. From then on the outbox owns delivery; `sent_at`
is copied back from the outbox's `sent/` record. A restart that finds `queued_at` without
`sent_at` only flushes the outbox: it never builds or queues a second message.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from samoflow.atomic import atomic_write_model
from samoflow.clock import utcnow
from samoflow.convoy.rounds import MergeRound, PendingMerge
from samoflow.names import validate_slug
from samoflow.session.files import CONVOYS_DIR, SessionFiles
from samoflow.session.state import Lifecycle, report_of
from samoflow.session.verification import DeliveryRecord
from samoflow.workspace.merge import MergeResult, MergeStatus


class ConvoyError(ValueError):
    """A plan or convoy record that cannot be used; the message says how to fix it."""


def slug(value: str) -> str:
    validate_slug(value, "name")
    if "--" in value:
        raise ValueError(f"name {value!r} has '--', which samoflow keeps for workers")
    return value


class MemberState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    BLOCKED = "blocked"
    WAITING = "waiting"  # at a human gate: not terminal, a re-run continues it
    STOPPED = "stopped"  # a human stopped or paused it: not terminal, resumed by a human
    FAILED = "failed"  # the session flow itself failed (after its retries)


TERMINAL = frozenset({MemberState.DONE, MemberState.BLOCKED, MemberState.FAILED})


class ConvoyMember(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str  # the session's name (a worker's is `<coordinator>--<worker>`)
    session_dir: str
    branch: str
    state: MemberState = MemberState.PENDING
    phase: str = "init"
    iterations: int = 0
    cost_usd: float = 0.0
    note: str | None = None  # the blocking reason, the failure, or the last summary
    runs: int = 0  # session flow runs this convoy started: a finished member gets no more
    restarts: int = 0  # runs the convoy started again after they crashed (served members)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    merge: MergeResult | None = None
    rounds: tuple[MergeRound, ...] = ()  # the merge queue's attempts, in order

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return round((self.finished_at - self.started_at).total_seconds(), 1)


class CompletionNotice(BaseModel):
    """The idempotency record of the one completion message (see the module docstring)."""

    model_config = ConfigDict(frozen=True)

    key: str
    message_hash: str
    queued_at: datetime
    sent_at: datetime | None = None


class ConvoyRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str = Field(default_factory=lambda: uuid.uuid4().hex[:12])
    name: str
    repo: str
    sessions_root: str
    base_branch: str
    integration_branch: str
    integration_worktree: str
    concurrency: int = Field(ge=1)
    notify_on_complete: bool = True
    owner: str | None = None  # the coordinator's session folder, for a worker convoy
    created_at: datetime = Field(default_factory=utcnow)
    members: tuple[ConvoyMember, ...]
    notice: CompletionNotice | None = None
    pending_merge: PendingMerge | None = None  # a merge in flight (see convoy/rounds.py)
    delivery: DeliveryRecord | None = None  # the integration branch pushed, its pull request

    @property
    def complete(self) -> bool:
        return all(m.terminal for m in self.members)

    @property
    def notice_key(self) -> str:
        return f"convoy-{self.id}-complete"

    def member(self, name: str) -> ConvoyMember:
        for member in self.members:
            if member.name == name:
                return member
        raise ConvoyError(f"convoy {self.name} has no member {name!r}")

    def with_member(self, updated: ConvoyMember) -> ConvoyRecord:
        members = tuple(updated if m.name == updated.name else m for m in self.members)
        return self.model_copy(update={"members": members})

    def done_of_total(self) -> tuple[int, int]:
        return sum(1 for m in self.members if m.terminal), len(self.members)


def convoy_path(sessions_root: Path, name: str) -> Path:
    return sessions_root / CONVOYS_DIR / f"{slug(name)}.json"


def worker_convoy_path(coordinator: SessionFiles) -> Path:
    return coordinator.worker_convoy


def integration_branch(name: str) -> str:
    return f"samoflow/convoy/{name}"


def convoy_log(record_path: Path) -> Path:
    """Prefect's own log lines of a convoy run from the terminal, next to its record."""
    return record_path.with_suffix(".log")


def read_convoy(path: Path) -> ConvoyRecord:
    try:
        return ConvoyRecord.model_validate_json(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValidationError) as error:
        raise ConvoyError(f"convoy record {path} is unreadable: {error}") from error


def write_convoy(path: Path, record: ConvoyRecord) -> None:
    atomic_write_model(path, record)


def list_convoys(sessions_root: Path) -> list[Path]:
    folder = sessions_root / CONVOYS_DIR
    return sorted(folder.glob("*.json")) if folder.is_dir() else []


_LIFECYCLE_STATE = {
    Lifecycle.DONE: MemberState.DONE,
    Lifecycle.BLOCKED: MemberState.BLOCKED,
    Lifecycle.WAITING: MemberState.WAITING,
    Lifecycle.STOPPED: MemberState.STOPPED,
    Lifecycle.PAUSED: MemberState.STOPPED,
}


def refresh_member(member: ConvoyMember, *, failure: str | None = None) -> ConvoyMember:
    """The member as its session files say (a failed flow run is FAILED with the error;
    a finished one whose session was reopened, for a merge fix-up, is pending again)."""
    report = report_of(SessionFiles(Path(member.session_dir)))
    state = _LIFECYCLE_STATE.get(report.lifecycle, member.state)
    reopened = report.lifecycle is Lifecycle.ACTIVE and state is MemberState.DONE
    if reopened:
        state = MemberState.PENDING
    if failure is not None and state not in TERMINAL:
        state = MemberState.FAILED
    finished = (member.finished_at or utcnow()) if state in TERMINAL else None
    return member.model_copy(
        update={
            "state": state,
            "phase": report.phase.value,
            "iterations": report.iterations,
            "cost_usd": report.usage.cost_usd,
            "note": failure or report.reason or report.summary,
            "finished_at": finished,
            **({"merge": None} if reopened else {}),
        }
    )


def members_to_run(record: ConvoyRecord) -> list[ConvoyMember]:
    """Members whose sessions still have work; finished ones are never run again."""
    if record.notice is not None:
        return []  # the convoy already told humans it is over
    return [m for m in record.members if m.state not in (MemberState.DONE, MemberState.BLOCKED)]


_SETTLED = frozenset(
    {MergeStatus.MERGED, MergeStatus.ALREADY_MERGED, MergeStatus.CONFLICT, MergeStatus.RED}
)


def members_to_merge(record: ConvoyRecord) -> list[ConvoyMember]:
    """Done members not merged yet (a member sent back for a fix-up has its merge cleared)."""
    return [
        m
        for m in record.members
        if m.state is MemberState.DONE and (m.merge is None or m.merge.status not in _SETTLED)
    ]


def worker_results(coordinator: SessionFiles) -> list[str]:
    """One line per worker for the coordinator's prompt: state, branch, merge, last note."""
    path = worker_convoy_path(coordinator)
    if not path.exists():
        return []
    record = read_convoy(path)
    lines = [f"Integration branch with the workers' merged work: {record.integration_branch}"]
    for m in record.members:
        merge = m.merge.describe() if m.merge is not None else "not merged"
        note = f" - {m.note}" if m.note else ""
        lines.append(f"- {m.name}: {m.state.value}, branch {m.branch}, {merge}{note}")
    return lines
