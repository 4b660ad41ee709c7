"""The human gate: the session pauses, `samoflow answer` (another process) resumes it."""

from __future__ import annotations

import contextvars
import subprocess
import sys
import threading
from pathlib import Path
from uuid import UUID

import pytest
from prefect.client.orchestration import get_client

from samoflow.flows.session import session_flow
from samoflow.session.files import SessionFiles
from samoflow.session.gate import GateAnswer, read_gate
from samoflow.session.history import EntryKind, read_history
from samoflow.session.phases import Phase
from samoflow.session.state import Lifecycle, SessionReport, load_state
from samoflow.session.store import record_gate_answer
from tests.conftest import wait_until
from tests.support.sessions import new_session

pytestmark = pytest.mark.usefixtures("prefect_api")


def paused_run_id(files: SessionFiles, iteration: int) -> str | None:
    gate = read_gate(files.gate)
    if gate is None or gate.flow_run_id is None or gate.iteration != iteration:
        return None
    with get_client(sync_client=True) as client:
        state = client.read_flow_run(UUID(gate.flow_run_id)).state
    return gate.flow_run_id if state is not None and state.is_paused() else None


def answer(repo: Path, session: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "samoflow.cli", "answer", session, "--repo", str(repo), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_gate_pauses_and_answers_from_the_cli_move_the_session_on(repo: Path) -> None:
    files = new_session(repo, name="gated", auto_approve=False)
    reports: list[SessionReport] = []
    context = contextvars.copy_context()  # the thread uses the test's Prefect API
    runner = threading.Thread(
        target=lambda: reports.append(context.run(session_flow, str(files.root)))
    )
    runner.start()

    wait_until(lambda: paused_run_id(files, 3) is not None, 90, "the requirements gate")
    assert load_state(files).lifecycle is Lifecycle.WAITING
    first = answer(repo, "gated", "--text", "B) French, please")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "continues" in first.stdout

    wait_until(lambda: paused_run_id(files, 4) is not None, 90, "the plan approval gate")
    assert load_state(files).phase is Phase.PLANNING
    second = answer(repo, "gated", "--text", "plan approved")
    assert second.returncode == 0, second.stdout + second.stderr

    runner.join(timeout=120)
    assert reports and reports[0].lifecycle is Lifecycle.DONE
    qa = files.qa.read_text()
    assert "B) French, please" in qa and "plan approved" in qa
    answers = [e for e in read_history(files.history) if e.kind is EntryKind.ANSWER]
    assert [(a.phase, a.next_phase) for a in answers] == [
        ("requirements", "planning"),
        ("planning", "implementation"),
    ]
    assert not files.gate.exists()


def test_answering_a_session_that_is_not_waiting_is_refused(repo: Path) -> None:
    new_session(repo, name="busy")
    result = answer(repo, "busy", "--text", "hello")
    assert result.returncode == 2 and "not waiting" in result.stdout


def test_a_rejected_plan_keeps_the_phase_for_the_agent_to_revise(repo: Path) -> None:
    scenario = """
[[steps]]
overview = "init"
signal = { status = "continue", phase = "investigation" }
[[steps]]
signal = { status = "continue", phase = "requirements" }
[[steps]]
signal = { status = "waiting", for = "qa" }
"""
    files = new_session(repo, scenario, name="reject", auto_approve=False)
    from samoflow.settings import get_settings

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SAMOFLOW_GATE_TIMEOUT_SECONDS", "1")  # no human comes: the run ends waiting
        get_settings.cache_clear()
        report = session_flow(str(files.root))
    get_settings.cache_clear()
    assert report.lifecycle is Lifecycle.WAITING
    entry = record_gate_answer(files, GateAnswer(text="too vague", approve=False))
    assert entry.next_phase == "requirements" and load_state(files).lifecycle is Lifecycle.ACTIVE
