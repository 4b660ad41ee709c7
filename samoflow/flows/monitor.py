"""The monitor flow: one sweep over a project's sessions, as a Prefect flow run.

Scheduled every minute by a deployment; the decisions live in `samoflow.health.monitor`.
"""

from __future__ import annotations

from pathlib import Path

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact
from prefect.runtime import deployment, flow_run

from samoflow.clock import utcnow
from samoflow.flows.listen import listen_for
from samoflow.health.monitor import Monitor, SessionCheck, summarize, sweep
from samoflow.prefect_api.results import unpersisted_results
from samoflow.prefect_api.run_states import mark_dead_runs_crashed
from samoflow.project import sessions_roots
from samoflow.settings import get_settings
from samoflow.tasks.notify import notify_humans

MONITOR_ARTIFACT_KEY = "samoflow-monitor"
# The schedule is every minute; a run this late was missed while the server or the workers
# were down (a busy machine makes runs a few minutes late: those still sweep).
MISSED_AFTER_SECONDS = 600.0


# The next sweep is due a minute after this one's schedule: listening ends before, so the
# deployment's concurrency limit (1, CANCEL_NEW) never cancels that next sweep.
LISTEN_UNTIL_SECONDS = 50.0


@flow(name="samoflow-monitor", flow_run_name="monitor-sweep", **unpersisted_results())
def monitor_flow(repo: str = ".", listen: bool = False) -> list[SessionCheck]:
    """Restart sessions whose orchestrator died; lock out crash loops and tell a human.

    With `listen` (the scheduled deployment), the rest of the minute reads the replies to
    notices, as the `listen` flow does: one flow-run process a minute instead of two (each
    pays Prefect's import, about 2.8 s of CPU here)."""
    if missed_schedule():
        return []
    settings = get_settings()
    monitor = Monitor(settings=settings, notify=notify_humans)
    roots = sessions_roots(Path(repo).resolve())
    for root in roots:  # before any restart: a restart replaces the dead run's lease
        for session in mark_dead_runs_crashed(root, settings):
            get_run_logger().warning("session %s: its dead run is marked Crashed", session)
    checks = [c for root in roots for c in sweep(root, monitor)]
    report_sweep(checks)
    if listen:
        listen_after_sweep(repo, settings.listen_seconds)
    return checks


def listen_after_sweep(repo: str, longest: float) -> None:
    """A channel that is down (Telegram unreachable, a refused token) is logged, not raised:
    the run stands for its sweep, which is done, and the next minute listens again."""
    try:
        handled = listen_for(repo, listening_window(longest))
    except Exception as error:  # any channel failure: named in the log, the sweep stands
        get_run_logger().error("listening for replies failed: %r", error)
        return
    get_run_logger().info("handled %d replies", len(handled))


def listening_window(longest: float) -> float:
    """Seconds left to listen: until `LISTEN_UNTIL_SECONDS` after the scheduled start (now,
    for a run outside a deployment), at most `longest`; 0 when that time has passed."""
    scheduled = flow_run.scheduled_start_time
    began = scheduled if deployment.id is not None and scheduled is not None else utcnow()
    left = LISTEN_UNTIL_SECONDS - (utcnow() - began).total_seconds()
    return max(0.0, min(left, longest))


def missed_schedule() -> bool:
    """A scheduled sweep long overdue (the server or worker was down): skipped, a later one
    does the work; runs outside a deployment always sweep."""
    scheduled = flow_run.scheduled_start_time
    if deployment.id is None or scheduled is None:
        return False
    late = (utcnow() - scheduled).total_seconds()
    if late < MISSED_AFTER_SECONDS:
        return False
    get_run_logger().info("missed schedule (%.0f s late): skipped, not replayed", late)
    return True


def report_sweep(checks: list[SessionCheck]) -> None:
    logger = get_run_logger()
    for line in summarize(checks):
        logger.warning("%s", line)
    logger.info("swept %d sessions", len(checks))
    create_table_artifact(
        key=MONITOR_ARTIFACT_KEY,
        table=[check.model_dump(mode="json") for check in checks],
        description="The last monitor sweep: one row per session.",
    )
