"""A UI cancellation of a run no runner supervises (`samoflow run --local`, a convoy's
subflows): nobody signals the process, so the flow watches its own run's state and turns
a cancel into a stop (a runner-served run gets SIGTERM and the flow's hook instead)."""

from __future__ import annotations

import contextlib
import contextvars
import logging
import threading
from collections.abc import Iterator
from uuid import UUID

from prefect.client.orchestration import get_client

from samoflow.health.stop_pause import end_agent
from samoflow.session.files import SessionFiles
from samoflow.session.hold import HoldKind, request_hold

CANCELLED_BY = "prefect cancellation"
log = logging.getLogger(__name__)


def _cancelled(run_id: UUID) -> bool:
    with get_client(sync_client=True) as client:
        state = client.read_flow_run(run_id).state
    return state is not None and (state.is_cancelling() or state.is_cancelled())


def _watch(files: SessionFiles, run_id: UUID, interval: float, done: threading.Event) -> None:
    while not done.wait(interval):
        try:
            if not _cancelled(run_id):
                continue
        except Exception as error:  # the API away: the next look decides
            log.info("cancellation watch of %s: %s", files.name, error)
            continue
        request_hold(files, HoldKind.STOP, CANCELLED_BY)  # the flow records it and ends
        end_agent(files)
        return


@contextlib.contextmanager
def watch_cancellation(files: SessionFiles, run_id: UUID, interval: float) -> Iterator[None]:
    done = threading.Event()
    # The caller's context (Prefect's settings: which API) goes along to the thread.
    context = contextvars.copy_context()
    thread = threading.Thread(target=context.run, args=(_watch, files, run_id, interval, done),
                              name=f"cancel-watch-{files.name}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
