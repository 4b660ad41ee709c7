"""The convoy flow: several sessions at once in their worktrees, merged, announced once.

Members run as concurrent session subflows on a thread pool sized by the convoy's
concurrency (each thread gets a copy of the flow's context, so Prefect links the subflow to
this run). Only this flow's main thread writes `_convoy.json`; a re-run or a restart
reconciles every member from its session files and runs only those still unfinished.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any
from uuid import UUID

from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from flows.session import session_flow
from samoflow.convoy import (
    ConvoyMember,
    ConvoyRecord,
    MemberState,
    members_to_merge,
    members_to_run,
    read_convoy,
    refresh_member,
    write_convoy,
)
from samoflow.hook import utcnow
from samoflow.session_state import SessionReport
from samoflow.settings import get_settings
from tasks.convoy import (
    announce_completion,
    merge_member,
    prepare_convoy,
    publish_progress,
    publish_table,
)
from tasks.notify import flush_outbox


def _run_name() -> str:
    return f"convoy-{Path(str(flow_run.parameters['source'])).stem}"


@flow(name="samoflow-convoy", flow_run_name=_run_name)
def convoy_flow(source: str, repo: str | None = None) -> ConvoyRecord:
    """`source`: a plan file (with `repo`, default the current directory) or a `_convoy.json`."""
    path = Path(prepare_convoy(source, repo))
    record = reconcile(path)
    flush_outbox(record.sessions_root)  # what Slack could not take last time goes first
    progress = publish_progress(record, None)
    run_members(path, record, progress)
    record = merge_finished(path)
    publish_table(record)
    publish_progress(record, progress)
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
    spacing = get_settings().convoy_start_spacing_seconds
    gate = _StartGate(wave=min(record.concurrency, len(todo)), spacing=spacing)
    with ThreadPoolExecutor(record.concurrency, thread_name_prefix="convoy") as pool:
        futures: dict[Future[SessionReport], str] = {}
        for member in todo:
            record = record.with_member(_started(member))
            futures[pool.submit(_in_flow_context(gate.run), member.session_dir)] = member.name
        write_convoy(path, record)
        for future in as_completed(futures):
            record = _finished(path, record.member(futures[future]), future)
            publish_progress(record, progress)
            publish_table(record)


def _started(member: ConvoyMember) -> ConvoyMember:
    return member.model_copy(
        update={
            "state": MemberState.RUNNING,
            "runs": member.runs + 1,
            "started_at": member.started_at or utcnow(),
        }
    )


class _StartGate:
    """Start session flow runs one at a time, and the first wave's bodies together.

    Measured on `prefect server start` (SQLite): creating a flow run while other runs write
    fails with "database is locked", answered 503 and retried by the client after 2, 4,
    8 s...; one member of eight started 30 s late. So runs are created one by one, and the
    first wave (as many as run at once) holds its work until the wave has started, then
    starts it `convoy_start_spacing_seconds` apart: eight agents starting in the same
    instant on two cores made every iteration of the wave about 1 s slower.
    """

    def __init__(self, wave: int, spacing: float, hold_seconds: float = 60.0) -> None:
        self._spacing = spacing
        self._creating = threading.Lock()
        self._counting = threading.Lock()
        self._started = 0
        self._wave = wave
        self._wave_started = threading.Event()
        self._hold_seconds = hold_seconds

    def _count(self) -> int:
        with self._counting:
            place = self._started
            self._started += 1
            if self._started >= self._wave:
                self._wave_started.set()
        self._creating.release()
        return place

    def run(self, session_dir: str) -> SessionReport:
        self._creating.acquire()
        opened = threading.Event()

        def on_running(*_: object) -> None:  # also after a flow retry: the event guards
            if not opened.is_set():
                opened.set()
                place = self._count()
                if self._wave_started.wait(self._hold_seconds) and place < self._wave:
                    time.sleep(place * self._spacing)  # agents that start together compete

        hook: Any = on_running  # a state hook: (flow, flow_run, state) -> None
        try:
            hooks = [*session_flow.on_running_hooks, hook]  # keep any hook the flow has
            return session_flow.with_options(on_running=hooks)(session_dir)
        finally:
            if not opened.is_set():  # failed before it ran: let the others go on
                opened.set()
                self._count()


def _in_flow_context(function: Callable[[str], SessionReport]) -> Callable[[str], SessionReport]:
    """Run `function` in a copy of this thread's context: the subflow knows its parent."""
    context = contextvars.copy_context()
    return lambda argument: context.run(function, argument)


def _finished(path: Path, member: ConvoyMember, future: Future[SessionReport]) -> ConvoyRecord:
    """Record one member's end (re-read: merges of earlier members changed the record)."""
    failure = None
    try:
        future.result()
    except Exception as error:  # the session flow failed after its retries
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
        result = merge_member(record, member.branch)
        record = record.with_member(member.model_copy(update={"merge": result}))
        write_convoy(path, record)
    return record
