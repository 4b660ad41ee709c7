"""Stall tests and benchmarks: serve the stall handler, apply the automation, hang an agent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import DeploymentStatus
from prefect.deployments.runner import RunnerDeployment

from samoflow.flows.stall import stall_handler_flow
from samoflow.prefect_api.automations import (
    STALL_DEPLOYMENT,
    STALL_FLOW,
    Applied,
    apply_stall_automation,
)
from samoflow.prefect_api.events import STALL_AUTOMATION
from samoflow.settings import get_settings

PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent
# Prefect 3.8.8's triggers service reloads changed automations every 5 s (periodic
# evaluation): events that arrive before it did are not seen by a new automation.
TRIGGERS_RELOAD_SECONDS = 6.0

# Step one hangs on its first attempt, silently; the fresh agent of the handoff lists its
# inbox in the overview (the nudge must be there) and ends the session.
HANG_ONCE = """
[[steps]]
overview = "init"
hang_on_attempts = [1]
echo_inbox = true
signal = { status = "blocked", reason = "finished after the stall" }
"""


def stall_deployment_status() -> DeploymentStatus | None:
    with get_client(sync_client=True) as client:
        try:
            deployment = client.read_deployment_by_name(f"{STALL_FLOW}/{STALL_DEPLOYMENT}")
        except Exception:
            return None
    return deployment.status


def register_stall_deployment() -> None:
    """The deployment `serve` will serve, created now so the automation can point at it."""
    deployment = stall_handler_flow.to_deployment(name=STALL_DEPLOYMENT)
    assert isinstance(deployment, RunnerDeployment)
    deployment.apply()


@contextmanager
def served_stall_handler(log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`python -m flows.stall` in its own process group, polling for runs every second."""
    env = {**os.environ, "PREFECT_RUNNER_POLL_FREQUENCY": "1"}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "samoflow.flows.stall"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def apply_automation() -> tuple[Applied, float]:
    """The stall automation with the current settings, and when it was applied (monotonic)."""
    return apply_stall_automation(get_settings()), time.monotonic()


def delete_stall_automation() -> None:
    with get_client(sync_client=True) as client:
        for automation in client.read_automations_by_name(STALL_AUTOMATION):
            client.delete_automation(automation.id)
