"""The state a session's flow run shows in the UI, set from what its files say.

A blocked session ends `Failed` (named "Blocked") with the reason as the message, not a green
Completed; a run whose orchestrator died (its lease proves it) is `Crashed`, not Running
forever. Waiting is Prefect's own Paused (`pause_flow_run`), done is Completed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from uuid import UUID

from prefect import Flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import FlowRun, State
from prefect.exceptions import ObjectNotFound
from prefect.states import Crashed, Failed

from samoflow.clock import utcnow
from samoflow.health.lease import Liveness, liveness, read_lease
from samoflow.session.files import SessionFiles
from samoflow.session.state import Lifecycle, report_of
from samoflow.session.store import list_sessions
from samoflow.settings import Settings

BLOCKED_STATE = "Blocked"


def blocked_run_state(flow_run: FlowRun) -> State[Any] | None:
    """`Failed`, named Blocked, with the reason, for a session run whose files say blocked;
    None for any other run. A run samoflow runs itself ends in it instead of Completed
    (`run_prepared`'s `final_state`): one state write, and no Completed in its history."""
    session_dir = flow_run.parameters.get("session_dir")
    if not session_dir:
        return None
    report = report_of(SessionFiles(Path(session_dir)))
    if report.lifecycle is not Lifecycle.BLOCKED:
        return None
    message = f"blocked: {report.reason or 'no reason recorded'}"
    return Failed(name=BLOCKED_STATE, message=message[:2000])


def end_blocked_run_failed(flow: Flow[..., Any], flow_run: FlowRun, state: State[Any]) -> None:
    """`on_completion` of the session flow run by Prefect's own engine (a deployment's run,
    a direct call): a run that ends on a block is set Failed after its Completed."""
    blocked = blocked_run_state(flow_run)
    if blocked is None:
        return
    with get_client(sync_client=True) as client:
        client.set_flow_run_state(flow_run.id, blocked, force=True)


def mark_dead_runs_crashed(sessions_root: Path, settings: Settings) -> list[str]:
    """Runs whose orchestrator is dead by its lease, still shown unfinished: now Crashed.

    Called before the monitor restarts anything (a restart replaces the lease)."""
    marked = []
    for name in list_sessions(sessions_root):
        files = SessionFiles(sessions_root / name)
        try:
            lease = read_lease(files.lease)
        except (OSError, ValueError):
            continue  # the monitor reports a broken lease itself
        if lease is None or lease.flow_run_id is None:
            continue
        verdict = liveness(lease, now=utcnow(), stale_seconds=settings.lease_stale_seconds)
        if verdict is Liveness.DEAD:
            why = f"orchestrator pid {lease.pid} of session {name} is gone (its lease says so)"
            if crash_if_unfinished(lease.flow_run_id, why):
                marked.append(name)
    return marked


def crash_if_unfinished(flow_run_id: str, message: str) -> bool:
    with get_client(sync_client=True) as client:
        try:
            run = client.read_flow_run(UUID(flow_run_id))
        except (ObjectNotFound, ValueError):
            return False  # a run of another server, or none
        if run.state is None or run.state.is_final():
            return False
        client.set_flow_run_state(run.id, Crashed(message=message), force=True)
    return True
