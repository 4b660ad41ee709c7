"""Prefect tasks of the convoy's merge queue: open the integration worktree, land one member
(merge + checks, or roll back), and send a member back with a fix-up through its inbox."""

from __future__ import annotations

from pathlib import Path

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from samoflow.convoy.merge_queue import current_head, fixup_text, integration_worktree, land
from samoflow.convoy.record import ConvoyMember, ConvoyRecord
from samoflow.convoy.rounds import MergeRound, RoundVerdict
from samoflow.inbox.messages import MessageKind, new_message, stable_id
from samoflow.project import ChecksConfig
from samoflow.session.files import SessionFiles
from samoflow.session.git_truth import verify_before_merge
from samoflow.session.reopen import reopen_for_fixup
from samoflow.tasks.inbox import PrefectInboxStore
from samoflow.workspace.ground_truth import GitTruthError
from samoflow.workspace.merge import MergeResult, MergeStatus

SENDER = "samoflow"


@task(name="open-integration", cache_policy=NO_CACHE)
def open_integration(record: ConvoyRecord) -> str:
    """The integration worktree ready; the integration branch's head before the next merge."""
    integration_worktree(record)
    return current_head(record)


@task(
    name="merge-member",
    cache_policy=NO_CACHE,
    task_run_name="merge-{member.name}-round-{round_number}",
)
def merge_member(
    record: ConvoyRecord,
    member: ConvoyMember,
    checks: ChecksConfig | None,
    old_head: str,
    round_number: int,
) -> tuple[MergeResult, MergeRound]:
    """Merge, run the checks on the integration worktree, keep it or move the branch back."""
    log = get_run_logger()
    try:
        for repair in verify_before_merge(SessionFiles(Path(member.session_dir))).repairs:
            log.warning("%s: %s", member.branch, repair)  # a lost branch, found again
    except (GitTruthError, OSError, ValueError) as error:
        failed = MergeResult(status=MergeStatus.FAILED, branch=member.branch, detail=str(error))
        return failed, MergeRound(
            number=round_number, verdict=RoundVerdict.FAILED, detail=str(error)
        )
    result, merge_round = land(record, member, checks, old_head)
    if merge_round.verdict is RoundVerdict.LANDED:
        log.info("%s round %d: %s", member.name, round_number, merge_round.describe())
    else:
        log.warning(
            "%s round %d: %s; %s moved back to %s",
            member.name,
            round_number,
            merge_round.describe(),
            record.integration_branch,
            old_head[:12],
        )
    return result, merge_round


@task(name="send-merge-fixup", cache_policy=NO_CACHE, task_run_name="fixup-{member.name}")
def send_fixup(record: ConvoyRecord, member: ConvoyMember, max_rounds: int) -> None:
    """The `merge_fixup` message into the member's inbox, then its session reopened."""
    last = member.rounds[-1]
    message = new_message(
        member.name,
        fixup_text(record, member, max_rounds),
        sender=SENDER,
        kind=MessageKind.MERGE_FIXUP,
        # One id per round: re-sent after a crash, the inbox writes it once.
        message_id=stable_id(record.id, member.name, "merge-fixup", str(last.number)),
    )
    PrefectInboxStore().store(message)
    files = SessionFiles(Path(member.session_dir))
    note = f"merge queue round {last.number}: {last.describe()}; sent back for a fix-up"
    reopen_for_fixup(files, note)
