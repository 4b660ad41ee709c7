"""Heartbeats as Prefect events: `samoflow.session.heartbeat` while a session makes progress,
`samoflow.session.ended` when it stops on purpose (done, blocked, a human gate), and
`samoflow.session.stall-checked` after a stall step, which re-arms the stall automation.

Resource `samoflow.session.<name>`; its labels carry what the stall handler needs (the
session folder) and what a human wants to see (phase, iteration, attempt). Emitting never
raises into a session: a lost event is a later alert at worst, never a failed iteration.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import DeploymentStatus
from prefect.events import emit_event

from samoflow.clock import utcnow
from samoflow.health.progress import Beat
from samoflow.health.stall import StallStep
from samoflow.health.watchdog import AttemptPlace, AttemptWatch, WatchHooks
from samoflow.notices.notice import Notice
from samoflow.session.files import SessionFiles
from samoflow.session.history import HistoryEntry, Outcome
from samoflow.session.hook import Hook
from samoflow.settings import Settings

HEARTBEAT_EVENT = "samoflow.session.heartbeat"
ENDED_EVENT = "samoflow.session.ended"
STALL_CHECKED_EVENT = "samoflow.session.stall-checked"
RESOURCE_PREFIX = "samoflow.session."
STALL_AUTOMATION = "samoflow-session-stall"
# How long this process trusts its answer to "is a stall automation served?".
SERVED_CHECK_SECONDS = 60.0
_SERVED_CACHE: dict[str, tuple[float, bool]] = {}  # "last": (checked at, served)
SESSION_DIR_LABEL = "samoflow.session-dir"
# Heartbeats closer together than this tell the stall watch nothing new (its window is at
# least 10 s, Prefect's least for a proactive trigger) but cost the API an event each: a
# fast loop (an attempt start and an iteration end per iteration) sends one per second.
HEARTBEAT_SPACING_SECONDS = 1.0
_LAST_HEARTBEAT: dict[str, float] = {}  # resource id -> when this process last sent one

log = logging.getLogger(__name__)


def session_resource(
    files: SessionFiles, phase: str, iteration: int, attempt: int | None = None
) -> dict[str, str]:
    """Labels are strings (Prefect's rule); the automation reads the session folder here."""
    resource = {
        "prefect.resource.id": f"{RESOURCE_PREFIX}{files.name}",
        "prefect.resource.name": files.name,
        SESSION_DIR_LABEL: str(files.root),
        "samoflow.sessions-root": str(files.sessions_root),
        "samoflow.phase": phase,
        "samoflow.iteration": str(iteration),
    }
    if attempt is not None:
        resource["samoflow.attempt"] = str(attempt)
    return resource


def _emit(
    event: str, resource: dict[str, str], payload: dict[str, Any], occurred: datetime
) -> None:
    try:
        emit_event(event=event, resource=resource, payload=payload, occurred=occurred)
    except Exception as error:  # the API or its client: the watchdog covers what is lost
        log.warning("could not emit %s for %s: %s", event, resource["prefect.resource.id"], error)


def _heartbeat(resource: dict[str, str], payload: dict[str, Any], occurred: datetime) -> None:
    now = time.monotonic()
    last = _LAST_HEARTBEAT.get(resource["prefect.resource.id"])
    if last is not None and now - last < HEARTBEAT_SPACING_SECONDS:
        return
    _LAST_HEARTBEAT[resource["prefect.resource.id"]] = now
    _emit(HEARTBEAT_EVENT, resource, payload, occurred)


def emit_heartbeat(files: SessionFiles, place: AttemptPlace, beat: Beat) -> None:
    """Stamped with the time the progress was seen, so the automation's window starts there."""
    _heartbeat(
        session_resource(files, place.phase, place.iteration, place.attempt),
        {"seen": beat.what, "observations": beat.observations},
        beat.at,
    )


def report_progress(files: SessionFiles, entry: HistoryEntry) -> None:
    """After an iteration: a heartbeat if the session goes on, `ended` if it stops here."""
    resource = session_resource(files, entry.next_phase or entry.phase, entry.iteration)
    payload = {"seen": "iteration end", "outcome": entry.outcome.value}
    if entry.outcome in (Outcome.DONE, Outcome.BLOCKED, Outcome.WAITING):
        _LAST_HEARTBEAT.pop(resource["prefect.resource.id"], None)  # a run after it beats at once
        _emit(ENDED_EVENT, resource, payload, utcnow())
    else:
        _heartbeat(resource, payload, utcnow())


def report_waiting(files: SessionFiles, phase: str, iteration: int, what: str) -> None:
    """A session that waits on purpose (its account is paused) is alive: not a stall."""
    _heartbeat(session_resource(files, phase, iteration), {"seen": what}, utcnow())


def emit_stall_checked(files: SessionFiles, step: StallStep | None, phase: str) -> None:
    iteration = step.iteration if step is not None else 0
    payload = {"action": step.action.value if step is not None else "none"}
    _emit(STALL_CHECKED_EVENT, session_resource(files, phase, iteration), payload, utcnow())


def _automation_served() -> bool:
    """An enabled stall automation whose handler deployment is served (a worker polls it)."""
    with get_client(sync_client=True) as client:
        for automation in client.read_automations_by_name(STALL_AUTOMATION):
            for action in automation.actions if automation.enabled else []:
                deployment_id = getattr(action, "deployment_id", None)
                if deployment_id is None:
                    continue
                if client.read_deployment(deployment_id).status == DeploymentStatus.READY:
                    return True
    return False


def stall_automation_served(fresh: bool = False) -> bool:
    """Asked at most once a minute per process; an API that does not answer means no."""
    now = time.monotonic()
    checked = _SERVED_CACHE.get("last")
    if not fresh and checked is not None and now - checked[0] < SERVED_CHECK_SECONDS:
        return checked[1]
    try:
        served = _automation_served()
    except Exception as error:  # the API is down: the watchdog must not wait for it
        log.info("stall automation unknown (%s): the watchdog acts alone", error)
        served = False
    _SERVED_CACHE["last"] = (now, served)
    return served


@contextmanager
def watch_attempt(
    files: SessionFiles, hook: Hook, settings: Settings, tell_humans: Callable[[Notice], None]
) -> Iterator[AttemptWatch]:
    """Heartbeats and the stall watchdog around one agent attempt."""
    place = AttemptPlace(
        iteration=hook.iteration,
        attempt=hook.attempt,
        phase=hook.phase,
        working_dir=Path(hook.working_dir),
    )
    hooks = WatchHooks(
        announce=lambda beat: emit_heartbeat(files, place, beat),
        tell_humans=tell_humans,
    )
    # With a served automation the watchdog lets it act first; alone it acts at the threshold.
    grace = settings.watchdog_grace_seconds if stall_automation_served() else 0.0
    with AttemptWatch(files, place, settings, hooks, grace_seconds=grace) as watch:
        yield watch
