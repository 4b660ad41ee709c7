"""Tell a human: the Prefect log always; Slack once the SlackAlerts block is configured."""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from samoflow.notify import Notice


@task(name="notify-humans", cache_policy=NO_CACHE, retries=0)
def notify_humans(notice: Notice) -> None:
    get_run_logger().warning("%s", notice.plain_text())
