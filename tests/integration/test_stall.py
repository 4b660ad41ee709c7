"""Stall detection on a real Prefect server: the automation and its handler, and the
in-process watchdog ladder when no automation runs. Real agent processes, real git."""

from __future__ import annotations

import contextvars
import json
import threading
import time
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import DeploymentStatus
from typer.testing import CliRunner

from samoflow.cli.app import app
from samoflow.flows.session import session_flow
from samoflow.health.progress import read_progress
from samoflow.health.stall import StallAction, read_stall_log
from samoflow.inbox.messages import Message, MessageKind
from samoflow.prefect_api.automations import AutomationError, apply_stall_automation
from samoflow.prefect_api.events import STALL_AUTOMATION, stall_automation_served
from samoflow.session.files import SessionFiles
from samoflow.session.history import EntryKind, HistoryEntry, Outcome, iterations, read_history
from samoflow.session.state import Lifecycle, SessionReport
from samoflow.settings import Settings, get_settings
from tests.conftest import wait_until
from tests.support.convoys import use_slack
from tests.support.sessions import new_session
from tests.support.slack_capture import SlackCapture, slack_capture
from tests.support.stall import (
    HANG_ONCE,
    TRIGGERS_RELOAD_SECONDS,
    apply_automation,
    delete_stall_automation,
    register_stall_deployment,
    served_stall_handler,
    stall_deployment_status,
)

pytestmark = pytest.mark.usefixtures("prefect_api")

STALL_SECONDS = 10.0  # the shortest window Prefect accepts for a proactive trigger


def stall_steps(files: SessionFiles) -> list[HistoryEntry]:
    return [
        e
        for e in read_history(files.history)
        if e.kind is EntryKind.SYSTEM and (e.summary or "").startswith("stall ladder")
    ]


def seen_by_agent(files: SessionFiles) -> list[dict[str, object]]:
    lines = (files.logs / "scripted-seen.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def test_apply_creates_the_automation_once_and_then_updates_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    register_stall_deployment()
    monkeypatch.setenv("SAMOFLOW_STALL_SECONDS", "600")
    try:
        first = apply_stall_automation(get_settings())
        monkeypatch.setenv("SAMOFLOW_STALL_SECONDS", "900")
        get_settings.cache_clear()
        result = CliRunner().invoke(app, ["automations", "apply"])
        assert result.exit_code == 0 and "updated automation" in result.output, result.output
        second = apply_stall_automation(get_settings())
        assert first.created and not second.created
        assert first.automation_id == second.automation_id
        # nothing serves the handler here: the watchdog must not wait for the automation
        assert not stall_automation_served(fresh=True)
        with get_client(sync_client=True) as client:
            (stored,) = client.read_automations_by_name(STALL_AUTOMATION)
        trigger = stored.trigger
        assert trigger.posture == "Proactive" and trigger.within.total_seconds() == 900  # type: ignore[union-attr]
        assert trigger.for_each == {"prefect.resource.id"}  # type: ignore[union-attr]
        with pytest.raises(AutomationError, match="at least 10"):
            apply_stall_automation(Settings(stall_seconds=5))
    finally:
        delete_stall_automation()


@pytest.mark.slow
def test_the_automation_alerts_slack_nudges_and_hands_off_a_silent_agent(
    repo: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name, value in {
        "STALL_SECONDS": STALL_SECONDS,
        "STALL_ESCALATE_SECONDS": 5,
        "WATCHDOG_GRACE_SECONDS": 3600,  # the watchdog only carries out what the handler asks
        "WATCHDOG_POLL_SECONDS": 0.2,
        "HEARTBEAT_INTERVAL_SECONDS": 1,
    }.items():
        monkeypatch.setenv(f"SAMOFLOW_{name}", str(value))
    get_settings.cache_clear()
    files = new_session(repo, HANG_ONCE, name="silent", timeout=300)
    with slack_capture() as slack:
        use_slack(slack.url, monkeypatch)  # before the handler process starts: it inherits it
        register_stall_deployment()
        _, applied_at = apply_automation()
        try:
            with served_stall_handler(tmp_path / "serve.log"):
                wait_until(
                    lambda: stall_deployment_status() == DeploymentStatus.READY,
                    60,
                    "the served handler",
                )
                assert stall_automation_served(fresh=True)
                # The triggers service must have loaded the automation before the first beat.
                wait_until(
                    lambda: time.monotonic() - applied_at > TRIGGERS_RELOAD_SECONDS,
                    TRIGGERS_RELOAD_SECONDS + 1,
                    "the triggers service to load the automation",
                )
                report, _ = run_until_alerted(files, slack)
        finally:
            delete_stall_automation()
        # How soon it alerts is measured in benchmarks/stall_latency.py, not asserted here.
        steps = read_stall_log(files).steps
        assert [(s.action, s.by) for s in steps] == [
            (StallAction.NUDGE, "automation"),
            (StallAction.HANDOFF, "automation"),
        ]
        assert [e.summary for e in stall_steps(files)] == [
            "stall ladder: nudge (by the automation)",
            "stall ladder: handoff (by the automation)",
        ]
        # The nudge went through Prefect's inbox and the fresh agent's turn listed it.
        (nudge_file,) = files.inbox_read.glob("msg-*-nudge-*.json")
        nudge = Message.model_validate_json(nudge_file.read_text())
        assert nudge.kind is MessageKind.NUDGE and nudge.seq >= 1
        fresh = seen_by_agent(files)[-1]
        assert fresh["attempt"] == 2 and fresh["prompt_mentions_handoff"] is True
        assert fresh["inbox"] == [nudge.id]
        assert "inbox from samoflow: samoflow noticed no progress" in files.overview.read_text()
        assert report.lifecycle is Lifecycle.BLOCKED and report.reason == "finished after the stall"
        assert len([t for t in slack.texts() if "is stalled" in t]) == 1


def run_until_alerted(files: SessionFiles, slack: SlackCapture) -> tuple[SessionReport, float]:
    """Run the session in a thread; the seconds from its last progress to the stall alert."""
    reports: list[SessionReport] = []
    # The test's Prefect settings (the served API) go along to the thread.
    context = contextvars.copy_context()
    runner = threading.Thread(
        target=context.run, args=(lambda: reports.append(session_flow(str(files.root))),)
    )
    runner.start()
    wait_until(
        lambda: any("is stalled" in t for t in slack.texts()), 90, "the stall alert on Slack"
    )
    alerted_at = time.time()
    progress = read_progress(files)
    assert progress is not None and progress.attempt == 1
    runner.join(timeout=120)
    assert reports, "the session flow did not end after the handoff"
    return reports[0], alerted_at - progress.at.timestamp()


@pytest.mark.slow
def test_the_watchdog_nudges_hands_off_restarts_and_blocks_without_an_automation(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {
        "STALL_SECONDS": 1.5,
        "STALL_ESCALATE_SECONDS": 1,
        "WATCHDOG_GRACE_SECONDS": 0,
        "WATCHDOG_POLL_SECONDS": 0.1,
        "HEARTBEAT_INTERVAL_SECONDS": 0.5,
    }.items():
        monkeypatch.setenv(f"SAMOFLOW_{name}", str(value))
    get_settings.cache_clear()
    scenario = HANG_ONCE.replace("hang_on_attempts = [1]", "hang_on_attempts = [1, 2, 3]")
    files = new_session(repo, scenario, name="hung", timeout=300)
    with slack_capture() as slack:
        use_slack(slack.url, monkeypatch)
        report = session_flow(str(files.root))

    assert report.lifecycle is Lifecycle.BLOCKED
    assert (report.reason or "").startswith("stalled: no progress for")
    assert [e.summary for e in stall_steps(files)] == [
        f"stall ladder: {action} (by the watchdog)" for action in StallAction
    ]
    (iteration,) = iterations(read_history(files.history))
    assert iteration.outcome is Outcome.BLOCKED and iteration.attempts == 3
    seen = seen_by_agent(files)
    assert [s["attempt"] for s in seen] == [1, 2, 3]
    assert seen[1]["prompt_mentions_handoff"] is True  # the handoff's fresh agent
    assert len(seen[1]["inbox"]) == 1  # type: ignore[arg-type]  # the nudge, on its next turn
    texts = slack.texts()
    assert len([t for t in texts if "is stalled" in t]) == 1
    assert len([t for t in texts if "is blocked" in t and "stalled" in t]) == 1
