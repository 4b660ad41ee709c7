"""The convoy flow: several sessions at once in their worktrees, merged, announced once.

Members run concurrently on a thread pool sized by the convoy's concurrency, each thread
blocking on one member: a session subflow in this process, or (served) a run of the session
deployment that any worker picks up (`flows/convoy_members.py`). Only this flow's main thread
writes `_convoy.json`; a re-run or a restart reconciles every member from its session files
and runs only those still unfinished.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from pathlib import Path
from uuid import UUID

from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from samoflow.clock import utcnow
from samoflow.convoy.record import (
    ConvoyMember,
    ConvoyRecord,
    MemberState,
    members_to_merge,
    members_to_run,
    read_convoy,
    refresh_member,
    write_convoy,
)
from samoflow.flows.convoy_members import in_flow_context, member_runner
from samoflow.session.files import SessionFiles
from samoflow.tasks.convoy import (
    announce_completion,
    merge_member,
    publish_progress,
    publish_table,
)
from samoflow.tasks.notify import flush_outbox


def _run_name() -> str:
    return f"convoy-{read_convoy(Path(str(flow_run.parameters['record']))).name}"


@flow(name="samoflow-convoy", flow_run_name=_run_name)
def convoy_flow(record: str) -> ConvoyRecord:
    """Run the convoy whose record (prepared by `samoflow convoy` or a coordinator) is `record`."""
    path = Path(record)
    record_now = reconcile(path)
    flush_outbox(record_now.sessions_root)  # what Slack could not take last time goes first
    progress = publish_progress(record_now, None)
    run_members(path, record_now, progress)
    record_now = merge_finished(path)
    publish_table(record_now)
    publish_progress(record_now, progress)
    return announce_completion(str(path))


def reconcile(path: Path) -> ConvoyRecord:
    """Every member as its session files say (a crash may have left them `running`)."""
    record = read_convoy(path)
    for member in record.members:
        record = record.with_member(refresh_member(member))
    write_convoy(path, record)
    return record


def run_members(path: Path, record: ConvoyRecord, progress: UUID | None) -> None:
    todo = members_to_run(record)
    if not todo:
        return
    runner = member_runner(record, wave=min(record.concurrency, len(todo)))
    with ThreadPoolExecutor(record.concurrency, thread_name_prefix="convoy") as pool:
        futures: dict[Future[int], str] = {}
        for member in todo:
            member = _started(member, reattaches=runner.reattaches)
            record = record.with_member(member)
            write_convoy(path, record)  # the run number names the run: recorded before it
            futures[pool.submit(in_flow_context(runner.run), member)] = member.name
        for future in as_completed(futures):
            record = _finished(path, record.member(futures[future]), future)
            publish_progress(record, progress)
            publish_table(record)


def _started(member: ConvoyMember, *, reattaches: bool) -> ConvoyMember:
    """`running`, with a new run number unless its last run may go on elsewhere (a
    deployment run outlives a convoy process that died: it is waited for again)."""
    reattach = reattaches and member.state is MemberState.RUNNING and member.runs > 0
    return member.model_copy(
        update={
            "state": MemberState.RUNNING,
            "runs": member.runs if reattach else member.runs + 1,
            "started_at": member.started_at or utcnow(),
        }
    )


def _finished(path: Path, member: ConvoyMember, future: Future[int]) -> ConvoyRecord:
    """Record one member's end (re-read: merges of earlier members changed the record)."""
    failure = None
    try:
        member = member.model_copy(update={"restarts": member.restarts + future.result()})
    except Exception as error:  # the session flow (run) failed after its retries
        failure = f"session flow failed: {type(error).__name__}: {error}"[:500]
        get_run_logger().error("member %s: %s", member.name, failure)
    record = read_convoy(path).with_member(refresh_member(member, failure=failure))
    write_convoy(path, record)
    if record.member(member.name).state is MemberState.DONE:
        record = merge_finished(path)
    return record


def merge_finished(path: Path) -> ConvoyRecord:
    """Merge every done, not yet merged member into the integration branch, one by one."""
    record = read_convoy(path)
    for member in members_to_merge(record):
        result = merge_member(record, member.branch, SessionFiles(Path(member.session_dir)))
        record = record.with_member(member.model_copy(update={"merge": result}))
        write_convoy(path, record)
    return record
