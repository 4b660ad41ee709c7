"""The monitor flow: one sweep over a project's sessions, as a Prefect flow run.

Scheduled every minute by a deployment; the decisions live in `samoflow.health.monitor`.
"""

from __future__ import annotations

from pathlib import Path

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact

from samoflow.health.monitor import Monitor, SessionCheck, summarize, sweep
from samoflow.project import sessions_roots
from samoflow.settings import get_settings
from samoflow.tasks.notify import notify_humans

MONITOR_ARTIFACT_KEY = "samoflow-monitor"


@flow(name="samoflow-monitor", flow_run_name="monitor-sweep")
def monitor_flow(repo: str = ".") -> list[SessionCheck]:
    """Restart sessions whose orchestrator died; lock out crash loops and tell a human."""
    monitor = Monitor(settings=get_settings(), notify=notify_humans)
    checks = [c for root in sessions_roots(Path(repo).resolve()) for c in sweep(root, monitor)]
    report_sweep(checks)
    return checks


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
