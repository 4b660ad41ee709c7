"""The convoy flow: several sessions at once in their worktrees, merged through the merge
queue (`flows/merge_queue.py`: one at a time, checked, sent back to fix what breaks), announced
once.

Members run concurrently on a thread pool sized by the convoy's concurrency, each thread
blocking on one member: a session subflow in this process, or (served) a run of the session
deployment that any worker picks up (`flows/convoy_members.py`). Only this flow's main thread
writes `_convoy.json`; a re-run or a restart reconciles every member from its session files
and runs only those still unfinished.
"""

from __future__ import annotations

from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from uuid import UUID

from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from samoflow.clock import utcnow
from samoflow.convoy.record import (
    ConvoyMember,
    ConvoyRecord,
    MemberState,
    members_to_run,
    read_convoy,
    refresh_member,
    write_convoy,
)
from samoflow.flows.convoy_members import MemberRunner, in_flow_context, member_runner
from samoflow.flows.merge_queue import merge_finished
from samoflow.prefect_api.artifacts_behind import settle_sessions
from samoflow.prefect_api.flow_heartbeat import without_flow_heartbeat
from samoflow.prefect_api.results import unpersisted_results
from samoflow.tasks.convoy import (
    announce_completion,
    publish_pictures_behind,
    publish_progress,
    publish_table,
    settle_pictures,
)
from samoflow.tasks.delivery import deliver_convoy_if_due
from samoflow.tasks.notify import flush_outbox


def _run_name() -> str:
    return f"convoy-{read_convoy(Path(str(flow_run.parameters['record']))).name}"


@flow(name="samoflow-convoy", flow_run_name=_run_name, **unpersisted_results())
def convoy_flow(record: str) -> ConvoyRecord:
    """Run the convoy whose record (prepared by `samoflow convoy` or a coordinator) is `record`."""
    path = Path(record)
    record_now = reconcile(path)
    flush_outbox(record_now.sessions_root)  # what Slack could not take last time goes first
    progress = publish_progress(record_now, None)
    run_members(path, record_now, progress)
    deliver_convoy_if_due(path)  # the integration branch pushed, one pull request
    record_now = read_convoy(path)
    settle_pictures(path)  # the last picture behind is out: the final one goes after it
    publish_table(record_now)
    publish_progress(record_now, progress)
    announced = announce_completion(str(path))
    settle_sessions(m.session_dir for m in announced.members)  # members' cards (subflows)
    return announced


def run_convoy_flow(record: str) -> ConvoyRecord:
    """The convoy flow run here (the CLI, the benchmarks): like `run_session_flow`, without
    Prefect's flow heartbeat thread, whose join ends every run up to a second late."""
    with without_flow_heartbeat():
        return convoy_flow(record)


def reconcile(path: Path) -> ConvoyRecord:
    """Every member as its session files say (a crash may have left them `running`)."""
    record = read_convoy(path)
    for member in record.members:
        record = record.with_member(refresh_member(member))
    write_convoy(path, record)
    return record


def run_members(path: Path, record: ConvoyRecord, progress: UUID | None) -> None:
    """Run every unfinished member; the members done go through the merge queue at once
    (together: one merge-lock hold for all that finished meanwhile), and a member the queue
    sends back for a fix-up runs again (until it lands or blocks)."""
    record = merge_finished(path)  # done members a run cut off did not merge yet
    todo = members_to_run(record)
    if not todo:
        return
    runner = member_runner(record, wave=min(record.concurrency, len(todo)))
    with ThreadPoolExecutor(record.concurrency, thread_name_prefix="convoy") as pool:
        runs = _Runs(path, runner, pool)
        for member in todo:
            record = runs.start(record, member, reattach=runner.reattaches)
        while runs.futures:
            finished, _ = wait(runs.futures, return_when=FIRST_COMPLETED)
            ended = [(record.member(runs.futures.pop(future)), future) for future in finished]
            record = _finished(path, ended)
            for member in runs.sent_back(record):  # a fresh run: never reattached
                record = runs.start(record, member, reattach=False)
            if runs.futures:  # the last picture is the convoy flow's, after delivery
                publish_pictures_behind(path, record, progress)


class _Runs:
    """The members' runs on the pool; only the flow's main thread starts them."""

    def __init__(self, path: Path, runner: MemberRunner, pool: ThreadPoolExecutor) -> None:
        self.path, self.runner, self.pool = path, runner, pool
        self.futures: dict[Future[int], str] = {}

    def start(self, record: ConvoyRecord, member: ConvoyMember, reattach: bool) -> ConvoyRecord:
        member = _started(member, reattaches=reattach)
        record = record.with_member(member)
        write_convoy(self.path, record)  # the run number names the run: recorded before it
        self.futures[self.pool.submit(in_flow_context(self.runner.run), member)] = member.name
        return record

    def sent_back(self, record: ConvoyRecord) -> list[ConvoyMember]:
        """Members the merge queue reopened for a fix-up and that do not run yet."""
        running = set(self.futures.values())
        return [
            m for m in record.members if m.state is MemberState.PENDING and m.name not in running
        ]


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


def _finished(path: Path, ended: list[tuple[ConvoyMember, Future[int]]]) -> ConvoyRecord:
    """Record the members' ends (re-read: merges of earlier members changed the record),
    then merge every member that is done."""
    record = read_convoy(path)
    for member, future in ended:
        record = record.with_member(_ended(record.member(member.name), future))
    write_convoy(path, record)
    if any(record.member(m.name).state is MemberState.DONE for m, _ in ended):
        record = merge_finished(path)
    return record


def _ended(member: ConvoyMember, future: Future[int]) -> ConvoyMember:
    """One member as its run and session files say it ended."""
    failure = None
    try:
        member = member.model_copy(update={"restarts": member.restarts + future.result()})
    except Exception as error:  # the session flow (run) failed after its retries
        failure = f"session flow failed: {type(error).__name__}: {error}"[:500]
        get_run_logger().error("member %s: %s", member.name, failure)
    return refresh_member(member, failure=failure)
