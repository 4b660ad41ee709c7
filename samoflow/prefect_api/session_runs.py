"""Start a session's orchestrator again from outside a terminal (a chat's `/resume`)."""

from __future__ import annotations

from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import FlowRun
from prefect.deployments import run_deployment
from prefect.exceptions import ObjectNotFound

from samoflow.health.restart import launch_local
from samoflow.prefect_api.run_names import session_run_tags
from samoflow.session.files import SessionFiles

SESSION_DEPLOYMENT = "samoflow-session/session"


def _deployed() -> bool:
    with get_client(sync_client=True) as client:
        try:
            client.read_deployment_by_name(SESSION_DEPLOYMENT)
        except ObjectNotFound:
            return False
    return True


def start_session_run(files: SessionFiles) -> str:
    """A run of the session deployment when it exists, else a detached local orchestrator."""
    if _deployed():
        run = run_deployment(
            SESSION_DEPLOYMENT,
            parameters={"session_dir": str(files.root)},
            timeout=0,
            tags=session_run_tags(files),
            as_subflow=False,
        )
        assert isinstance(run, FlowRun)  # called without an event loop: the sync variant
        return f"deployment run {run.name}"
    launched = launch_local(files)
    return f"orchestrator pid {launched.pid}"
