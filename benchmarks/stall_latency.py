"""Stall latency: seconds from a session's last progress to the stall alert on Slack.

Run: `.venv/bin/python -m benchmarks.stall_latency [RUNS] [STALL] [GRANULARITY] [HEARTBEAT]`
(defaults 3, 10, 5, 2): STALL is `stall_seconds` (10 s is the shortest window Prefect accepts
for a proactive automation); GRANULARITY is the server's
PREFECT_SERVER_EVENTS_PROACTIVE_GRANULARITY (Prefect's default 5 s: how often it looks for
expired windows); HEARTBEAT is `heartbeat_interval_seconds` (samoflow's default 2 s: the
last output of a burst is announced up to this late).
An agent prints one line and hangs. Measured twice, on a `prefect server start` this script
starts on 127.0.0.1 with a local stand-in for Slack:
- automation: the stall automation fires, the served stall handler nudges and alerts;
- watchdog: no automation; the in-process watchdog (grace 0) nudges and alerts.
"Last progress" is the time the orchestrator saw it (`_progress.json`); "alert" is when the
Slack stand-in got the POST. Goal: threshold + under 10 s. For the automation the extra
time is split into: window end -> the handler's flow run created (the trigger fires),
created -> started (the runner's poll and a new process), started -> the alert.
"""

from __future__ import annotations

import contextvars
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

HANG = '[[steps]]\noverview = "init"\nhang_on_attempts = [1]\nsignal = { status = "blocked" }\n'


def configure(stall_seconds: float, grace_seconds: float, heartbeat: float) -> None:
    from samoflow.settings import get_settings

    os.environ.update(
        {
            "SAMOFLOW_STALL_SECONDS": str(stall_seconds),
            "SAMOFLOW_STALL_ESCALATE_SECONDS": "3600",  # one step per run: the alert
            "SAMOFLOW_WATCHDOG_GRACE_SECONDS": str(grace_seconds),
            "SAMOFLOW_WATCHDOG_POLL_SECONDS": "0.2",
            "SAMOFLOW_HEARTBEAT_INTERVAL_SECONDS": str(heartbeat),
            "SAMOFLOW_ITERATION_RETRY_DELAY_SECONDS": "0",
        }
    )
    get_settings.cache_clear()


def one_stall(project: Path, name: str, slack: object) -> tuple[float, float]:
    """Run a session until its stall alert; end its agent; the last-progress-to-alert time."""
    from samoflow.agents.process import kill_process_group
    from samoflow.flows.session import session_flow
    from samoflow.health.progress import read_progress
    from samoflow.project import load_config
    from samoflow.session.journal import read_journal
    from samoflow.session.spec import AgentKind, AgentSpec
    from samoflow.session.store import create_session
    from tests.conftest import wait_until
    from tests.support.slack_capture import SlackCapture

    assert isinstance(slack, SlackCapture)
    scenario = project.parent / f"{name}.toml"
    scenario.write_text(HANG, encoding="utf-8")
    agent = AgentSpec(kind=AgentKind.SCRIPTED, scenario=str(scenario), timeout_seconds=600)
    files = create_session(
        load_config(project),
        name=name,
        task="hang",
        dive=None,
        agent=agent,
        auto_approve_gates=True,
    )
    before = len(slack.texts())
    context = contextvars.copy_context()
    runner = threading.Thread(target=context.run, args=(session_flow, str(files.root)))
    runner.start()
    wait_until(
        lambda: any(f"`{name}` is stalled" in t for t in slack.texts()[before:]),
        120,
        f"the stall alert of {name}",
    )
    alerted = time.time()
    progress = read_progress(files)
    assert progress is not None
    journal = read_journal(files.journal)
    if journal is not None and journal.agent_pid is not None:
        kill_process_group(journal.agent_pid)  # as a human would: the retry finishes it
    runner.join(timeout=120)
    return progress.at.timestamp(), alerted


def handler_run_times(name: str) -> tuple[float, float] | None:
    """When the stall handler's flow run for `name` was created and when it started."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName

    runs_filter = FlowRunFilter(name=FlowRunFilterName(any_=[f"stall-{name}"]))
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_run_filter=runs_filter)
    if not runs or runs[0].created is None or runs[0].start_time is None:
        return None
    return runs[0].created.timestamp(), runs[0].start_time.timestamp()


def measure(label: str, project: Path, runs: int, slack: object, stall: float) -> None:
    extra, parts = [], []
    for number in range(1, runs + 1):
        name = f"{label}-{number}"
        progress_at, alerted = one_stall(project, name, slack)
        extra.append(alerted - progress_at - stall)
        times = handler_run_times(name) if label == "automation" else None
        if times is not None:
            created, started = times
            parts.append((created - progress_at - stall, started - created, alerted - started))
    print(
        f"{label:<10} threshold {stall:g} s: alert after threshold + "
        f"{min(extra):.1f} / {statistics.median(extra):.1f} / {max(extra):.1f} s "
        f"(min / median / max of {runs})"
    )
    for fired, started, alerted in parts:
        print(
            f"{'':<10} fired +{fired:.1f} s, handler started +{started:.1f} s, "
            f"alert +{alerted:.1f} s"
        )


def main(
    runs: int = 3, stall: float = 10.0, granularity: float = 5.0, heartbeat: float = 2.0
) -> None:
    from benchmarks.convoy_speedup import start_server

    os.environ["PREFECT_SERVER_EVENTS_PROACTIVE_GRANULARITY"] = f"PT{granularity:g}S"  # ISO 8601
    print(f"proactive granularity of the server: {granularity:g} s, heartbeat: {heartbeat:g} s")
    home = Path(tempfile.mkdtemp(prefix="samoflow-stall-bench-"))
    server = start_server(home)  # sets PREFECT_API_URL before Prefect is imported
    os.environ["PREFECT_HOME"] = str(home)
    try:
        run_all(home, runs, stall, heartbeat)
    finally:
        server.terminate()
        server.wait(timeout=30)


def run_all(home: Path, runs: int, stall: float, heartbeat: float) -> None:
    from samoflow.cli.demo import make_demo_project
    from tests.conftest import wait_until
    from tests.support.slack_capture import slack_capture
    from tests.support.stall import (
        TRIGGERS_RELOAD_SECONDS,
        apply_automation,
        delete_stall_automation,
        register_stall_deployment,
        served_stall_handler,
        stall_deployment_status,
    )

    project = make_demo_project(home)
    with slack_capture() as slack:
        from samoflow.blocks.slack import SlackAlerts

        SlackAlerts(webhook_url=slack.url).save("bench-slack", overwrite=True)
        os.environ["SAMOFLOW_SLACK_BLOCK"] = "bench-slack"
        configure(stall, grace_seconds=3600, heartbeat=heartbeat)
        register_stall_deployment()
        _, applied_at = apply_automation()
        with served_stall_handler(home / "serve.log"):
            wait_until(lambda: str(stall_deployment_status()).endswith("READY"), 90, "serve")
            wait_until(
                lambda: time.monotonic() - applied_at > TRIGGERS_RELOAD_SECONDS,
                TRIGGERS_RELOAD_SECONDS + 1,
                "the triggers service",
            )
            measure("automation", project, runs, slack, stall)
        delete_stall_automation()
        configure(stall, grace_seconds=0, heartbeat=heartbeat)
        measure("watchdog", project, runs, slack, stall)


if __name__ == "__main__":
    main(*(float(arg) if i else int(arg) for i, arg in enumerate(sys.argv[1:])))  # type: ignore[arg-type]
