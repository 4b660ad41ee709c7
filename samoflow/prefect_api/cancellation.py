"""A UI cancellation of a run no runner supervises (`samoflow run --local`, a convoy's
subflows): nobody signals the process, so the flow watches its own run's state and turns
a cancel into a stop (a runner-served run gets SIGTERM and the flow's hook instead).

One thread per process and API watches every such run of that process, with one request
per look for all of them: a convoy's twelve members asked 48 times in 20 s one by one.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from uuid import UUID

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.settings import PREFECT_API_URL

from samoflow.health.stop_pause import end_agent
from samoflow.session.files import SessionFiles
from samoflow.session.hold import HoldKind, request_hold

CANCELLED_BY = "prefect cancellation"
PER_REQUEST = 100
log = logging.getLogger(__name__)
_GUARD = threading.Lock()  # every watcher's condition: one lock, no order to keep


@dataclass
class _Watcher:
    """The runs of one API (Prefect's settings travel in the context its thread runs in)."""

    context: contextvars.Context
    interval: float
    runs: dict[UUID, SessionFiles] = field(default_factory=dict)
    changed: threading.Condition = field(default_factory=lambda: threading.Condition(_GUARD))


_WATCHERS: dict[str, _Watcher] = {}  # by API URL ("" for Prefect's temporary server)


def _cancelled(run_ids: list[UUID]) -> set[UUID]:
    """Those of `run_ids` the API says are cancelling or cancelled, in one request for up to
    PER_REQUEST of them (Prefect caps how many runs one filter answers with)."""
    runs = []
    with get_client(sync_client=True) as client:
        for start in range(0, len(run_ids), PER_REQUEST):
            some = run_ids[start : start + PER_REQUEST]
            runs += client.read_flow_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=some)), limit=len(some)
            )
    return {
        run.id
        for run in runs
        if run.state is not None and (run.state.is_cancelling() or run.state.is_cancelled())
    }


def _watch(api: str, watcher: _Watcher) -> None:
    while True:
        with watcher.changed:
            watcher.changed.wait(watcher.interval)
            if not watcher.runs:  # nothing left to watch: the next watch starts a thread
                if _WATCHERS.get(api) is watcher:
                    del _WATCHERS[api]
                return
            watched = dict(watcher.runs)
        try:
            cancelled = _cancelled(list(watched))
        except Exception as error:  # the API away: the next look decides
            log.info("cancellation watch of %d runs: %s", len(watched), error)
            continue
        for run_id in cancelled:
            files = watched[run_id]
            with watcher.changed:
                if watcher.runs.pop(run_id, None) is None:
                    continue  # it ended meanwhile
            request_hold(files, HoldKind.STOP, CANCELLED_BY)  # the flow records it and ends
            end_agent(files)


@contextlib.contextmanager
def watch_cancellation(files: SessionFiles, run_id: UUID, interval: float) -> Iterator[None]:
    api = str(PREFECT_API_URL.value() or "")
    with _GUARD:
        watcher = _WATCHERS.get(api)
        if watcher is None:
            # The caller's context (Prefect's settings: which API) goes along to the thread.
            watcher = _Watcher(contextvars.copy_context(), interval)
            _WATCHERS[api] = watcher
            thread = threading.Thread(
                target=watcher.context.run, args=(_watch, api, watcher),
                name="cancel-watch", daemon=True,
            )
            thread.start()
        watcher.interval = min(watcher.interval, interval)
        watcher.runs[run_id] = files
    try:
        yield
    finally:
        with watcher.changed:
            watcher.runs.pop(run_id, None)
            if not watcher.runs:
                watcher.changed.notify_all()  # its thread ends now, not at its next look
