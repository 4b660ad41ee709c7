"""What the Prefect UI shows is what the files say: a block is Failed with its reason, the
artifacts are one card per key and run, a stopped orchestrator leaves no agent and no lease,
a dead one's run is Crashed (not Running forever)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterKey,
    FlowRunFilter,
    FlowRunFilterName,
)
from prefect.client.schemas.objects import FlowRun, StateType

from samoflow.flows.session import session_flow
from samoflow.prefect_api.artifacts import progress_key
from samoflow.prefect_api.run_states import mark_dead_runs_crashed
from samoflow.project import load_config
from samoflow.session.files import SessionFiles
from samoflow.session.history import read_history
from samoflow.session.journal import process_alive, read_journal
from samoflow.session.state import Lifecycle
from samoflow.settings import get_settings
from tests.conftest import wait_until
from tests.support.sessions import new_session

BLOCKING = """
name = "blocks"
[[steps]]
overview = "init"
signal = { status = "continue", phase = "investigation" }
[[steps]]
overview = "update"
signal = { status = "continue", summary = "still reading" }
[[steps]]
overview = "update"
signal = { status = "blocked", reason = "needs the database password" }
"""


def runs_named(name: str) -> list[FlowRun]:
    with get_client(sync_client=True) as client:
        return client.read_flow_runs(
            flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[name]))
        )


def test_a_blocked_run_is_failed_with_its_reason_and_shows_one_card_per_key(
    prefect_api: str, repo: Path
) -> None:
    files = new_session(repo, BLOCKING, name="blocked-ui")
    report = session_flow(str(files.root))
    assert report.lifecycle is Lifecycle.BLOCKED  # the caller still gets the report
    [run] = runs_named("session-blocked-ui")
    assert run.state is not None
    assert run.state.type is StateType.FAILED
    assert run.state.name == "Blocked"
    assert "needs the database password" in (run.state.message or "")
    with get_client(sync_client=True) as client:
        versions = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=[progress_key("blocked-ui")])
            )
        )
    assert len(versions) == 1  # 3 iterations and the finish: updated in place
    rows = versions[0].data if isinstance(versions[0].data, list) else json.loads(
        str(versions[0].data)
    )
    assert [row["outcome"] for row in rows][-1] == "blocked"
    assert len(rows) == 3


def start_cli_session(repo: Path, name: str, tmp_path: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "SAMOFLOW_HOME": str(tmp_path / "samoflow-home")}
    return subprocess.Popen(
        [sys.executable, "-m", "samoflow.cli", "run", "wait for ever", "--session", name,
         "--repo", str(repo), "--agent", "command", "--agent-command", "sleep 300",
         "--auto-approve"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


def running_agent(files: SessionFiles) -> tuple[int, float]:
    def started() -> bool:
        journal = read_journal(files.journal) if files.journal.exists() else None
        return journal is not None and process_alive(journal.agent_pid, journal.agent_started)

    wait_until(started, 120, "the agent to start")
    journal = read_journal(files.journal)
    assert journal is not None and journal.agent_pid and journal.agent_started
    return journal.agent_pid, journal.agent_started


def test_sigterm_stops_cleanly_and_sigkill_leaves_a_crashed_run(
    prefect_api: str, repo: Path, tmp_path: Path
) -> None:
    sessions = load_config(repo).sessions
    stopped = SessionFiles(sessions / "stopped")
    cli = start_cli_session(repo, "stopped", tmp_path)
    agent = running_agent(stopped)
    cli.send_signal(signal.SIGTERM)
    assert cli.wait(timeout=60) != 0
    wait_until(lambda: not process_alive(*agent), 30, "the agent to be gone with it")
    assert not stopped.lease.exists()  # released: nobody mistakes it for a crash
    assert "stopped by SIGTERM" in (read_history(stopped.history)[-1].summary or "")

    killed = SessionFiles(sessions / "killed")
    cli = start_cli_session(repo, "killed", tmp_path)
    agent_pid, _ = running_agent(killed)
    cli.send_signal(signal.SIGKILL)
    cli.wait(timeout=30)
    psutil.Process(agent_pid).kill()  # what SIGKILL leaves behind; the monitor's case
    [run] = runs_named("session-killed")
    assert run.state is not None and run.state.type is StateType.RUNNING
    assert mark_dead_runs_crashed(sessions, get_settings()) == ["killed"]
    [run] = runs_named("session-killed")
    assert run.state is not None and run.state.type is StateType.CRASHED
    assert mark_dead_runs_crashed(sessions, get_settings()) == []  # once
