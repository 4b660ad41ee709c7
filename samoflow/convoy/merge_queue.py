"""The convoy's merge queue: land one member on the integration branch, verified, or undo it.

`land(record, member, checks)` merges the member's branch in the integration worktree and
runs the project's checks there. Green (or no checks: unverified) is a landed round; a
conflict or a red check moves the integration branch back to where it was (update-ref, the
worktree reset and cleaned) and is a failed round. `settle` then decides: a landed member is
finished; a failed one gets a fix-up (its session reopened, a `merge_fixup` message) until
`max_rounds` failed rounds, then it ends blocked. The caller holds the repository's merge
lock (prefect_api/merge_lock.py) and records the round in the convoy record.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from samoflow.convoy.record import ConvoyMember, ConvoyRecord, MemberState
from samoflow.convoy.rounds import (
    ALREADY_MERGED,
    FIXABLE,
    MergeRound,
    PendingMerge,
    RoundVerdict,
    failed_rounds,
)
from samoflow.delivery.checks import ChecksReport, run_checks
from samoflow.project import ChecksConfig
from samoflow.session.files import SessionFiles
from samoflow.workspace.merge import (
    MergeResult,
    MergeStatus,
    branch_head,
    clean_worktree,
    merge_branch,
    prepare_integration,
    roll_back,
)

DEFAULT_MAX_ROUNDS = ChecksConfig().max_rounds  # fix-ups of conflicts when no checks exist
TAIL_IN_MESSAGE = 60  # lines of a red check's output the fix-up message carries


def integration_worktree(record: ConvoyRecord) -> Path:
    """Created off the base once; a merge a crash cut off is undone; dirt is refused."""
    return prepare_integration(
        Path(record.repo),
        Path(record.integration_worktree),
        record.integration_branch,
        record.base_branch,
    )


def current_head(record: ConvoyRecord) -> str:
    return branch_head(Path(record.repo), record.integration_branch)


def recover(record: ConvoyRecord, pending: PendingMerge) -> None:
    """A merge a crash cut off (maybe mid-check): the branch back at its old head, clean."""
    worktree = Path(record.integration_worktree)
    if worktree.is_dir():
        roll_back(worktree, record.integration_branch, pending.old_head)


def land(
    record: ConvoyRecord, member: ConvoyMember, checks: ChecksConfig | None, old_head: str
) -> tuple[MergeResult, MergeRound]:
    """Merge, check, and keep or roll back; the integration worktree is clean either way.
    The caller opened the worktree (`integration_worktree`) in this hold of the merge lock."""
    number = len(member.rounds) + 1
    worktree = Path(record.integration_worktree)
    message = f"samoflow convoy {record.name}: merge {member.branch}"
    result = merge_branch(worktree, member.branch, message)
    if result.status is not MergeStatus.MERGED:
        roll_back(worktree, record.integration_branch, old_head)  # nothing of it may stay
        return result, _round(number, result)
    if checks is None or not checks.commands:
        return result, MergeRound(number=number, verdict=RoundVerdict.LANDED, commit=result.commit)
    logs = SessionFiles(Path(member.session_dir)).logs
    try:
        report = run_checks(worktree, checks, logs, label=f"merge-round-{number}")
    except BaseException:
        roll_back(worktree, record.integration_branch, old_head)  # checks that could not run
        raise
    finally:
        clean_worktree(worktree)  # what the checks wrote goes, green or red
    if report.passed:
        verified = MergeRound(
            number=number, verdict=RoundVerdict.LANDED, commit=result.commit, verified=True
        )
        return result, verified
    roll_back(worktree, record.integration_branch, old_head)
    return _red(member.branch, number, result.commit, report)


def _round(number: int, result: MergeResult) -> MergeRound:
    if result.status is MergeStatus.CONFLICT:
        return MergeRound(number=number, verdict=RoundVerdict.CONFLICT, files=result.files)
    if result.status is MergeStatus.ALREADY_MERGED:
        return MergeRound(number=number, verdict=RoundVerdict.LANDED, detail=ALREADY_MERGED)
    return MergeRound(number=number, verdict=RoundVerdict.FAILED, detail=result.detail)


def _red(
    branch: str, number: int, commit: str | None, report: ChecksReport
) -> tuple[MergeResult, MergeRound]:
    failed = report.failure
    command = failed.command if failed is not None else "checks"
    tail = failed.output_tail if failed is not None else (report.problem or "")
    result = MergeResult(
        status=MergeStatus.RED, branch=branch, commit=commit, detail=report.summary()
    )
    red = MergeRound(
        number=number,
        verdict=RoundVerdict.RED,
        commit=commit,
        check=command,
        tail="\n".join(tail.splitlines()[-TAIL_IN_MESSAGE:]),
        detail=report.summary(),
    )
    return result, red


class Settlement(StrEnum):
    LANDED = "landed"
    FIX_UP = "fix-up"  # sent back to its worktree with a `merge_fixup` message
    BLOCKED = "blocked"  # out of rounds: `blocked: merge`
    RETRY = "retry"  # git refused for another reason: tried again at the next merge


def settle(member: ConvoyMember, max_rounds: int) -> Settlement:
    """What the member's last round means for it (its rounds already include that one)."""
    last = member.rounds[-1]
    if last.verdict is RoundVerdict.LANDED:
        return Settlement.LANDED
    if last.verdict not in FIXABLE:
        return Settlement.RETRY
    return Settlement.FIX_UP if failed_rounds(member.rounds) < max_rounds else Settlement.BLOCKED


def fixup_text(record: ConvoyRecord, member: ConvoyMember, max_rounds: int) -> str:
    """The fix-up task: what went wrong, and the commands that fix it in the member's worktree."""
    last = member.rounds[-1]
    if last.verdict is RoundVerdict.CONFLICT:
        problem = (
            f"Your branch {member.branch} conflicts with the convoy's integration branch "
            f"in: {', '.join(last.files)}."
        )
    else:
        problem = (
            f"Merged into the convoy's integration branch, your branch {member.branch} makes "
            f"the check `{last.check}` fail ({last.detail}). Its last lines:\n\n```\n"
            f"{last.tail}\n```"
        )
    return (
        f"Merge queue of convoy {record.name}, round {last.number} of {max_rounds}: {problem}\n\n"
        "Fix it in your own worktree:\n"
        f"1. git merge {record.integration_branch}\n"
        "2. resolve every conflict, keeping both sides' intent\n"
        "3. make the project's checks green, commit, and finish (done) again.\n"
        "Your branch then re-enters the merge queue."
    )


def blocked_reason(member: ConvoyMember) -> str:
    last = member.rounds[-1]
    rounds = failed_rounds(member.rounds)
    if last.verdict is RoundVerdict.CONFLICT:
        return f"merge: conflict in {', '.join(last.files)} after {rounds} round(s)"
    tail = "\n".join((last.tail or "").splitlines()[-20:])
    return f"merge: check `{last.check}` red after {rounds} round(s): {last.detail}\n{tail}"


def sent_back(member: ConvoyMember) -> ConvoyMember:
    """Queued to run again (its session was reopened for the fix-up), to be merged anew."""
    return member.model_copy(
        update={"state": MemberState.PENDING, "finished_at": None, "merge": None}
    )
