"""The stall handler: one step of the ladder for a session that stopped making progress.

Run by the stall automation (a deployment run, parameters from the last heartbeat) or by
hand. It decides from the session's files (`samoflow.health.stall_check`), then: a nudge goes to
the agent's inbox and a human hears about the stall; a handoff, restart or block is
requested from the session's orchestrator (`_control.json`), whose watchdog ends the agent.
Afterwards it re-arms the automation, so a stall that goes on climbs to the next step.

`python -m flows.stall` serves it as the `samoflow-stall-handler/stall` deployment.
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

from prefect import flow, get_run_logger, serve
from prefect.deployments.runner import RunnerDeployment
from prefect.runtime import flow_run
from pydantic import BaseModel, ConfigDict

from samoflow.clock import utcnow
from samoflow.health.stall import StallAction, StallStep, nudge_message, request_control
from samoflow.health.stall_check import check_for_stall, locate_session
from samoflow.health.watchdog import stall_notice
from samoflow.inbox.messages import Message
from samoflow.prefect_api.automations import STALL_DEPLOYMENT, STALL_FLOW
from samoflow.prefect_api.events import emit_stall_checked
from samoflow.prefect_api.results import unpersisted_results
from samoflow.session.files import SessionFiles
from samoflow.session.state import load_state
from samoflow.settings import get_settings
from samoflow.tasks.inbox import PrefectInboxStore, deliver_inbox, send_message
from samoflow.tasks.notify import notify_humans


class StallReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    session: str
    action: StallAction | None  # None: nothing was due, or the session is exempt
    detail: str


def _run_name() -> str:
    parameters = flow_run.parameters
    where = parameters.get("session") or Path(str(parameters.get("session_dir") or "?")).name
    return f"stall-{where}"


# No retries: a step is recorded once.
@flow(name=STALL_FLOW, flow_run_name=_run_name, **unpersisted_results())
def stall_handler_flow(
    session_dir: str | None = None, session: str | None = None, sessions_root: str | None = None
) -> StallReport:
    """The next step of the stall ladder, if the session's files agree that one is due."""
    logger = get_run_logger()
    files = locate_session(session_dir, session, sessions_root)
    check = check_for_stall(files, get_settings(), utcnow())
    if check.step is not None:
        carry_out(files, check.step)
    if check.watch_on:
        emit_stall_checked(files, check.step, load_state(files).phase.value)
    logger.info("session %s: %s", files.name, check.detail)
    return StallReport(
        session=files.name,
        action=check.step.action if check.step is not None else None,
        detail=check.detail,
    )


def carry_out(files: SessionFiles, step: StallStep) -> None:
    """Nudges happen here; steps that end the agent are the orchestrator's to carry out."""
    if step.action is StallAction.NUDGE:
        # The human first: the nudge is only read at the agent's next turn anyway.
        notify_humans(
            stall_notice(files, step, load_state(files).phase.value), files
        )
        send_nudge(files, nudge_message(files, step))
    else:
        request_control(files, step)


def send_nudge(files: SessionFiles, message: Message) -> None:
    """Through Prefect like any message, then delivered at once so the next turn lists it."""
    if files.is_worker:  # `send_message` finds sessions by name, and workers have none there
        PrefectInboxStore().store(message)
    else:
        send_message(files.sessions_root, message)
    deliver_inbox(files)


def serve_stall_handler() -> None:
    """Serve the handler from this process (no work pool needed): `python -m flows.stall`."""
    deployment = cast(RunnerDeployment, stall_handler_flow.to_deployment(name=STALL_DEPLOYMENT))
    serve(deployment)  # called from sync code: the sync variant, not a coroutine


if __name__ == "__main__":
    serve_stall_handler()
