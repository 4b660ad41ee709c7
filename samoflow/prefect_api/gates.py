"""A gate answered from outside the paused run: resume that run with the answer as its input."""

from __future__ import annotations

from uuid import UUID

from prefect.client.orchestration import get_client
from prefect.exceptions import ObjectNotFound
from prefect.flow_runs import resume_flow_run

from samoflow.session.files import SessionFiles
from samoflow.session.gate import GateAnswer, read_gate

# The input a stopped session's paused run is let go with; the run ignores it: not waiting.
STOPPED_INPUT = GateAnswer(text="(the session was stopped)", approve=False, answered_by="stop")


def resume_paused_run(run_id: str, given: GateAnswer) -> bool:
    """True when the run was paused and now goes on; False leaves the answer on disk."""
    with get_client(sync_client=True) as client:
        try:
            run = client.read_flow_run(UUID(run_id))
        except ObjectNotFound:
            return False  # a run of another server (or deleted): the answer waits on disk
    if run.state is None or not run.state.is_paused():
        return False
    resume_flow_run(UUID(run_id), run_input={"text": given.text, "approve": given.approve})
    return True


def release_paused_run(files: SessionFiles) -> None:
    """A stopped session's run paused at its gate goes on, sees the stop, and ends."""
    gate = read_gate(files.gate)
    if gate is not None and gate.flow_run_id:
        resume_paused_run(gate.flow_run_id, STOPPED_INPUT)
