"""The Prefect automations samoflow relies on, created or updated by name (idempotent).

The stall automation (measured on Prefect 3.8.8, see docs/architecture.md): a proactive trigger
per session resource. A heartbeat (or a stall step, which re-arms it) opens a window of
`stall_seconds`; a heartbeat or an `ended` event inside it closes the window quietly; a window
that closes empty fires one run of the stall-handler deployment for that session, with the
session folder taken from the last event's resource. The handler itself alerts Slack through
`notify_humans` (outbox, retries, one message per stall): a second, direct Slack action here
would duplicate that message and need the Slack secret in a second block.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID

from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import DeploymentStatus
from prefect.events.actions import RunDeployment
from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture
from prefect.exceptions import ObjectNotFound

from samoflow.prefect_api.events import (
    ENDED_EVENT,
    HEARTBEAT_EVENT,
    RESOURCE_PREFIX,
    SESSION_DIR_LABEL,
    STALL_AUTOMATION,
    STALL_CHECKED_EVENT,
)
from samoflow.settings import Settings

STALL_FLOW = "samoflow-stall-handler"
STALL_DEPLOYMENT = "stall"  # as in prefect.yaml

# Prefect refuses a shorter window for a proactive trigger.
MIN_PROACTIVE_SECONDS = 10.0


class AutomationError(RuntimeError):
    """An automation that cannot be applied as asked; the message says what to do."""


@dataclass(frozen=True)
class Applied:
    name: str
    automation_id: UUID
    created: bool  # False: an existing automation of that name was updated
    deployment: str
    deployment_ready: bool  # a worker or `serve` polls it: its runs will start


def stall_trigger(settings: Settings) -> EventTrigger:
    if settings.stall_seconds < MIN_PROACTIVE_SECONDS:
        raise AutomationError(
            f"stall_seconds is {settings.stall_seconds:g}; a Prefect proactive automation "
            f"needs at least {MIN_PROACTIVE_SECONDS:g} s (set SAMOFLOW_STALL_SECONDS)"
        )
    return EventTrigger(
        # Without `after` a proactive trigger never fired when measured (docs/architecture.md).
        after={HEARTBEAT_EVENT, STALL_CHECKED_EVENT},
        expect={HEARTBEAT_EVENT, ENDED_EVENT},
        for_each={"prefect.resource.id"},
        match={"prefect.resource.id": f"{RESOURCE_PREFIX}*"},
        posture=Posture.Proactive,
        threshold=1,
        within=timedelta(seconds=settings.stall_seconds),
    )


def stall_automation(settings: Settings, deployment_id: UUID) -> AutomationCore:
    return AutomationCore(
        name=STALL_AUTOMATION,
        description=(
            f"No samoflow heartbeat from a session for {settings.stall_seconds:g} s: run one "
            "step of the stall ladder (nudge, handoff, restart, block) and tell a human."
        ),
        trigger=stall_trigger(settings),
        actions=[
            RunDeployment(
                source="selected",
                deployment_id=deployment_id,
                # A proactive firing carries the last event it saw: the session's last beat.
                parameters={"session_dir": f"{{{{ event.resource['{SESSION_DIR_LABEL}'] }}}}"},
            )
        ],
    )


def _stall_deployment() -> tuple[UUID, bool]:
    name = f"{STALL_FLOW}/{STALL_DEPLOYMENT}"
    with get_client(sync_client=True) as client:
        try:
            deployment = client.read_deployment_by_name(name)
        except ObjectNotFound:
            raise AutomationError(
                f"no deployment {name}: run `samoflow up` (or `prefect deploy --all` and a "
                "worker), or serve it with `python -m flows.stall`; then apply again"
            ) from None
    return deployment.id, deployment.status == DeploymentStatus.READY


def upsert(automation: AutomationCore) -> tuple[UUID, bool]:
    """Update the automation of that name (removing duplicates), or create it."""
    with get_client(sync_client=True) as client:
        existing = client.read_automations_by_name(automation.name)
        if not existing:
            return client.create_automation(automation), True
        keep, *extra = existing
        client.update_automation(keep.id, automation)
        for duplicate in extra:  # left by an earlier race of two `apply` runs
            client.delete_automation(duplicate.id)
        return keep.id, False


def apply_stall_automation(settings: Settings) -> Applied:
    deployment_id, ready = _stall_deployment()
    automation_id, created = upsert(stall_automation(settings, deployment_id))
    return Applied(
        name=STALL_AUTOMATION,
        automation_id=automation_id,
        created=created,
        deployment=f"{STALL_FLOW}/{STALL_DEPLOYMENT}",
        deployment_ready=ready,
    )
