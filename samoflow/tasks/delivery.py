"""Delivery as a Prefect task: `deliver` pushes the green branch and opens its pull request."""

from __future__ import annotations

from pathlib import Path

from prefect import get_run_logger, task
from prefect.artifacts import create_link_artifact
from prefect.cache_policies import NO_CACHE

from samoflow.convoy.delivery import convoy_delivery_due, deliver_convoy
from samoflow.convoy.record import ConvoyRecord, read_convoy, write_convoy
from samoflow.delivery.session_delivery import deliver_session, delivery_due
from samoflow.project import DeliveryConfig, ProjectError, load_config
from samoflow.session.files import CONVOY_PULL_REQUEST, SessionFiles
from samoflow.session.history import HistoryEntry
from samoflow.session.verification import DeliveryRecord


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


@task(name="deliver-convoy", cache_policy=NO_CACHE)
def deliver_convoy_work(convoy_file: str, config: DeliveryConfig) -> ConvoyRecord:
    """Push the integration branch and open the convoy's one pull request; recorded in the
    record (never retried: a push that failed is git's message in the notice)."""
    path = Path(convoy_file)
    body = path.with_name(path.stem + CONVOY_PULL_REQUEST)
    delivered = deliver_convoy(read_convoy(path), config, body)
    record = read_convoy(path).model_copy(update={"delivery": delivered})
    write_convoy(path, record)
    if delivered.error:
        get_run_logger().warning("convoy %s: delivery failed: %s", record.name, delivered.error)
    elif delivered.pull_request_url:
        create_link_artifact(
            key=f"convoy-{record.name}-pull-request",
            link=delivered.pull_request_url,
            description=f"convoy {record.name}: pull request",
        )
    return record


def deliver_convoy_if_due(convoy_file: Path) -> None:
    """Deliver a finished convoy once (checked without a task run when nothing is due)."""
    record = read_convoy(convoy_file)
    try:
        config = load_config(Path(record.repo)).delivery
    except ProjectError as error:
        if record.delivery is None:
            failed = DeliveryRecord(branch=record.integration_branch, error=str(error))
            write_convoy(convoy_file, record.model_copy(update={"delivery": failed}))
        return
    if convoy_delivery_due(record, config):
        deliver_convoy_work(str(convoy_file), config)
