"""Delivery as a Prefect task: `deliver` pushes the green branch and opens its pull request."""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.artifacts import create_link_artifact
from prefect.cache_policies import NO_CACHE

from samoflow.delivery.session_delivery import deliver_session, delivery_due
from samoflow.session.files import SessionFiles
from samoflow.session.history import HistoryEntry


@task(name="deliver", task_run_name="deliver-{files.name}", cache_policy=NO_CACHE)
def deliver_work(files: SessionFiles) -> HistoryEntry:
    """Push, then the pull request; recorded as `done` or `blocked: delivery`, never retried."""
    entry = deliver_session(files)
    record = entry.delivery
    logger = get_run_logger()
    if entry.reason:
        logger.warning("%s: %s", files.name, entry.reason)
    elif record is not None and record.pull_request_url:
        create_link_artifact(
            key=f"session-{files.name}-pull-request",
            link=record.pull_request_url,
            description=f"{files.name}: pull request",
        )
    return entry


def deliver_if_due(files: SessionFiles) -> HistoryEntry | None:
    """The delivery entry when a `done` waits for one (checked without a task run)."""
    return deliver_work(files) if delivery_due(files) else None
