"""The convoy's merge queue, as the convoy flow runs it: one member at a time, under the
repository's merge lock, each merge checked, a red or conflicting one moved back and the
member sent back with a fix-up (the convoy runs it again) or, out of rounds, blocked.

Only the convoy flow's main thread calls this, so only it writes `_convoy.json`. A merge in
flight is recorded (`pending_merge`) before it starts: a convoy that finds one after a crash
moves the integration branch back first, and the member is merged again.
"""

from __future__ import annotations

from pathlib import Path

from samoflow.convoy.merge_queue import (
    DEFAULT_MAX_ROUNDS,
    Settlement,
    blocked_reason,
    current_head,
    recover,
    sent_back,
    settle,
)
from samoflow.convoy.record import (
    ConvoyMember,
    ConvoyRecord,
    members_to_merge,
    read_convoy,
    refresh_member,
    write_convoy,
)
from samoflow.convoy.rounds import MergeRound, PendingMerge, RoundVerdict
from samoflow.prefect_api.merge_lock import repository_merge_lock
from samoflow.project import ChecksConfig, ProjectError, load_config
from samoflow.session.files import SessionFiles
from samoflow.session.reopen import block_finished
from samoflow.tasks.merge_queue import merge_member, open_integration, send_fixup
from samoflow.workspace.merge import MergeResult, MergeStatus
from samoflow.workspace.worktrees import RepoError


def merge_finished(path: Path) -> ConvoyRecord:
    """Every done, not yet landed member through the queue, in the order they finished."""
    record = read_convoy(path)
    if not members_to_merge(record) and record.pending_merge is None:
        return record  # no lock taken when there is nothing to merge
    try:
        checks = load_config(Path(record.repo)).checks
    except ProjectError as error:  # nothing lands unchecked by mistake: the config is fixed first
        return _refused(path, record, f"the project's config is unusable: {error}")
    with repository_merge_lock(Path(record.repo)):
        record = read_convoy(path)
        if record.pending_merge is not None:
            recover(record, record.pending_merge)
            record = _save(path, record.model_copy(update={"pending_merge": None}))
        opened = False  # each merge leaves the integration worktree clean: opened once a hold
        for member in sorted(members_to_merge(record), key=_finished_at):
            record, opened = merge_one(path, record, member, checks, opened=opened)
    return record


def merge_one(
    path: Path,
    record: ConvoyRecord,
    member: ConvoyMember,
    checks: ChecksConfig | None,
    *,
    opened: bool = False,
) -> tuple[ConvoyRecord, bool]:
    """One member's round; `opened`: the integration worktree is ready (returned as it is)."""
    number = len(member.rounds) + 1
    try:
        old_head = current_head(record) if opened else open_integration(record)
    except RepoError as error:
        failed = MergeResult(status=MergeStatus.FAILED, branch=member.branch, detail=str(error))
        merged = MergeRound(number=number, verdict=RoundVerdict.FAILED, detail=str(error))
        return _settled(path, record, member, failed, merged, checks), False
    pending = PendingMerge(member=member.name, old_head=old_head)
    record = _save(path, record.model_copy(update={"pending_merge": pending}))
    result, merged = merge_member(record, member, checks, old_head, number)
    return _settled(path, record, member, result, merged, checks), True


def _refused(path: Path, record: ConvoyRecord, detail: str) -> ConvoyRecord:
    """Every member waiting to merge gets a failed round (tried again at the next merge)."""
    for member in members_to_merge(record):
        failed = MergeResult(status=MergeStatus.FAILED, branch=member.branch, detail=detail)
        number = len(member.rounds) + 1
        merged = MergeRound(number=number, verdict=RoundVerdict.FAILED, detail=detail)
        updated = member.model_copy(update={"merge": failed, "rounds": (*member.rounds, merged)})
        record = record.with_member(updated)
    return _save(path, record)


def _settled(
    path: Path,
    record: ConvoyRecord,
    member: ConvoyMember,
    result: MergeResult,
    merged: MergeRound,
    checks: ChecksConfig | None,
) -> ConvoyRecord:
    """The round recorded, and what it means for the member: landed, sent back, blocked."""
    member = member.model_copy(update={"merge": result, "rounds": (*member.rounds, merged)})
    max_rounds = checks.max_rounds if checks is not None else DEFAULT_MAX_ROUNDS
    settlement = settle(member, max_rounds)
    if settlement is Settlement.FIX_UP:
        send_fixup(record, member, max_rounds)  # message and reopened session first: the truth
        member = sent_back(member)
    elif settlement is Settlement.BLOCKED:
        block_finished(SessionFiles(Path(member.session_dir)), blocked_reason(member))
        member = refresh_member(member)
    record = record.with_member(member).model_copy(update={"pending_merge": None})
    return _save(path, record)


def _finished_at(member: ConvoyMember) -> float:
    return member.finished_at.timestamp() if member.finished_at is not None else 0.0


def _save(path: Path, record: ConvoyRecord) -> ConvoyRecord:
    write_convoy(path, record)
    return record
