"""The checks gate as a Prefect task: `run-checks` in the UI, its output in `_logs/`."""

from __future__ import annotations

from typing import Any

from prefect import get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from samoflow.delivery.gate import GateDecision
from samoflow.delivery.session_checks import check_failure_text, verify_session
from samoflow.inbox.messages import MessageKind, new_message, stable_id
from samoflow.session.files import SessionFiles
from samoflow.session.verification import ChecksRecord
from samoflow.tasks.inbox import PrefectInboxStore


def checks_key(session: str) -> str:
    return f"session-{session}-checks"


@task(name="run-checks", task_run_name="checks-{files.name}", cache_policy=NO_CACHE)
def run_session_checks(files: SessionFiles, done_state: Any = None) -> GateDecision | None:
    """samoflow's own verdict on `done`: never the agent's word. None: no checks configured."""
    decision = verify_session(files, done_state)
    if decision is None:
        return None
    record = decision.record
    get_run_logger().info("%s: %s", files.name, record.headline())
    publish_checks(files, record)
    if decision.sends_back:
        send_check_failure(files, record)
    return decision


def send_check_failure(files: SessionFiles, record: ChecksRecord) -> None:
    """The failure into the agent's inbox; one id per round, so a re-run is a duplicate."""
    message = new_message(
        files.name,
        check_failure_text(record),
        sender="samoflow",
        kind=MessageKind.CHECK_FAILURE,
        message_id=stable_id(files.name, "check_failure", str(record.round)),
    )
    PrefectInboxStore().store(message)


def publish_checks(files: SessionFiles, record: ChecksRecord) -> None:
    rows = [
        {
            "round": record.round,
            "command": run.command,
            "result": "green" if run.passed else ("timed out" if run.timed_out else "red"),
            "exit code": "" if run.exit_code is None else run.exit_code,
            "duration s": run.duration_seconds,
            "log": run.log or "",
            "last lines": run.output_tail[-500:],
        }
        for run in record.runs
    ]
    if record.problem is not None:
        rows.append(
            {
                "round": record.round,
                "command": "(ground truth)",
                "result": "red",
                "exit code": "",
                "duration s": 0.0,
                "log": "",
                "last lines": record.problem,
            }
        )
    create_table_artifact(
        key=checks_key(files.name), table=rows, description=f"{files.name}: {record.headline()}"
    )
