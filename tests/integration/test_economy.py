"""The budget breaker and rate-limit waits on real sessions (scripted and command agents)."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from samoflow.economy.accounts import AccountState
from samoflow.economy.breakers import RATE_LIMIT_NEEDS
from samoflow.economy.budget import BudgetLimits, read_limits, write_limits
from samoflow.flows.session import session_flow
from samoflow.notices.outbox import NoticeOutbox, QueuedNotice
from samoflow.project import load_config
from samoflow.session.files import SessionFiles
from samoflow.session.history import EntryKind, iterations, read_history
from samoflow.session.spec import AgentKind, AgentSpec
from samoflow.session.state import Lifecycle
from samoflow.session.store import create_session
from samoflow.settings import get_settings
from samoflow.tasks.account_store import read_status
from tests.support.sessions import new_session

pytestmark = pytest.mark.usefixtures("prefect_api")

COSTLY = """
repeat_last = true
[[steps]]
overview = "init"
usage = { cost_usd = 0.3, input_tokens = 1000, output_tokens = 100 }
signal = { status = "continue", phase = "investigation" }
[[steps]]
overview = "update"
usage = { cost_usd = 0.3, input_tokens = 1000, output_tokens = 100 }
signal = { status = "continue" }
"""


def cli(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "samoflow.cli", *args, "--repo", str(repo)],
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_the_budget_stops_dispatch_warns_once_and_a_raise_lets_it_continue(repo: Path) -> None:
    files = new_session(repo, COSTLY, name="spender")
    write_limits(files.root, BudgetLimits(usd=1.0))
    report = session_flow(str(files.root))

    assert report.lifecycle is Lifecycle.BLOCKED
    assert report.reason == "budget: $1.2000 of $1.00 spent"
    assert report.iterations == 4  # 0.9 < 1.0 after three, so a fourth ran; no fifth
    assert read_limits(files.root, None, None).warned  # the 80 % warning went out once

    raised = cli(repo, "budget", "spender", "--usd", "2")
    assert raised.returncode == 0 and "budget raised" in raised.stdout
    report = session_flow(str(files.root))
    assert report.reason == "budget: $2.1000 of $2.00 spent" and report.iterations == 7
    done = iterations(read_history(files.history))
    assert [e.iteration for e in done] == list(range(1, 8))  # nothing repeated or lost

    status = json.loads(cli(repo, "status", "--json").stdout)
    assert status[0]["usage"]["cost_usd"] == pytest.approx(2.1)
    assert status[0]["usage"]["input_tokens"] == 7000


LIMITED_ONCE = r"""
if [ "$SAMOFLOW_ATTEMPT" = "1" ]; then
  echo 'SAMOFLOW_RATE_LIMIT {"retry_after_seconds": 1}'; exit 1
fi
printf '{"status":"blocked","reason":"finished after the limit"}' \
  > "$SAMOFLOW_SESSION_DIR/_signal.json"
"""


def test_a_rate_limited_attempt_waits_and_reruns_the_same_iteration(
    repo: Path, tmp_path: Path
) -> None:
    script = tmp_path / "limited.sh"
    script.write_text(LIMITED_ONCE)
    files = create_session(
        load_config(repo),
        name="limited",
        task="t",
        dive=None,
        agent=AgentSpec(kind=AgentKind.COMMAND, command=f"sh {script}"),
    )
    report = session_flow(str(files.root))
    assert report.reason == "finished after the limit"
    entries = read_history(files.history)
    waits = [e for e in entries if e.kind is EntryKind.SYSTEM and e.needs == RATE_LIMIT_NEEDS]
    assert len(waits) == 1 and "waiting 1." in (waits[0].reason or "")
    (iteration,) = iterations(entries)
    assert iteration.iteration == 1 and iteration.attempts == 2  # not failed, not counted twice


def session_on_own_account(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, script: str
) -> tuple[SessionFiles, str]:
    """A command-agent session on an account of its own, with waits short enough for a test."""
    account = f"probe-{uuid.uuid4().hex[:6]}"
    for variable, value in {
        "SAMOFLOW_ACCOUNT": account, "SAMOFLOW_ACCOUNT_POLL_SECONDS": "0.2",
        "SAMOFLOW_ACCOUNT_RESUME_JITTER_SECONDS": "0", "SAMOFLOW_LIMIT_RESET_SKEW_SECONDS": "0",
    }.items():
        monkeypatch.setenv(variable, value)
    get_settings.cache_clear()
    path = tmp_path / f"{name}.sh"
    path.write_text(script)
    files = create_session(
        load_config(repo), name=name, task="t", dive=None,
        agent=AgentSpec(kind=AgentKind.COMMAND, command=f"sh {path}"),
    )
    return files, account


# Iteration 1's agent signals, then its call is limited; iteration 2's agent gets through.
SIGNALS_THEN_LIMITED = r"""
echo "$(date +%s.%N) $SAMOFLOW_ITERATION $SAMOFLOW_ATTEMPT" >> "$SAMOFLOW_SESSION_DIR/calls.log"
if [ "$SAMOFLOW_ITERATION" = "1" ]; then
  printf '{"status":"continue","phase":"investigation"}' > "$SAMOFLOW_SESSION_DIR/_signal.json"
  echo 'SAMOFLOW_RATE_LIMIT {"retry_after_seconds": 1}'; exit 1
fi
printf '{"status":"blocked","reason":"probed"}' > "$SAMOFLOW_SESSION_DIR/_signal.json"
"""


def test_a_probe_that_ran_no_agent_is_no_probe_its_next_attempt_is(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The probe's first iteration is concluded from the signal its agent wrote before the
    limit: no call reached the API, so the account resumes only after its next agent."""
    files, account = session_on_own_account(
        repo, tmp_path, monkeypatch, "prober", SIGNALS_THEN_LIMITED
    )

    report = session_flow(str(files.root))

    assert report.reason == "probed"
    calls = [line.split() for line in (files.root / "calls.log").read_text().splitlines()]
    assert [call[1:] for call in calls] == [["1", "1"], ["2", "1"]]  # iteration 1 ran once
    entries = read_history(files.history)
    assert [e.iteration for e in iterations(entries)] == [1, 2]
    assert sum("this session probes it" in (e.reason or "") for e in entries) == 1
    sent = NoticeOutbox.for_sessions(load_config(repo).sessions).sent
    resumed = QueuedNotice.model_validate_json(
        (sent / f"account-{account}-resumed-1.json").read_text(encoding="utf-8")
    )
    assert resumed.queued_at.timestamp() > float(calls[1][0])  # after the agent that got through
    assert read_status(account).state is AccountState.ACTIVE


SIGNALS_BLOCKED_THEN_LIMITED = r"""
printf '{"status":"blocked","reason":"stopped before the limit"}' \
  > "$SAMOFLOW_SESSION_DIR/_signal.json"
echo 'SAMOFLOW_RATE_LIMIT {"retry_after_seconds": 1}'; exit 1
"""


def test_a_probe_whose_run_ends_without_an_agent_hands_the_claim_back(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Else the other sessions of the account would wait out the stale probe (40 min)."""
    files, account = session_on_own_account(
        repo, tmp_path, monkeypatch, "leaver", SIGNALS_BLOCKED_THEN_LIMITED
    )

    report = session_flow(str(files.root))

    assert report.reason == "stopped before the limit"
    entries = read_history(files.history)
    assert sum("this session probes it" in (e.reason or "") for e in entries) == 1
    status = read_status(account)
    assert status.state is AccountState.PAUSED and status.probe is None  # the next one probes


# Limited at its first attempt; its second (the probe) hangs until a human stops it.
LIMITED_THEN_HANGS = r"""
echo "$SAMOFLOW_ATTEMPT" >> "$SAMOFLOW_SESSION_DIR/calls.log"
if [ "$SAMOFLOW_ATTEMPT" = "1" ]; then
  echo 'SAMOFLOW_RATE_LIMIT {"retry_after_seconds": 1}'; exit 1
fi
exec sleep 120
"""


def test_a_probe_stopped_by_a_human_hands_the_claim_back(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from samoflow.session.hold import HoldKind, request_hold
    from samoflow.session.state import SessionReport
    from tests.conftest import wait_until
    from tests.support.replies import run_in_thread

    files, account = session_on_own_account(
        repo, tmp_path, monkeypatch, "halted", LIMITED_THEN_HANGS
    )
    calls = files.root / "calls.log"
    reports: list[SessionReport] = []
    runner = run_in_thread(files, reports)
    wait_until(lambda: calls.exists() and calls.read_text().split() == ["1", "2"], 120,
               "the probe's agent")
    assert read_status(account).probe == "halted"
    request_hold(files, HoldKind.STOP, "ann")
    runner.join(timeout=120)

    assert reports and reports[0].lifecycle is Lifecycle.STOPPED
    status = read_status(account)
    assert status.state is AccountState.PAUSED and status.probe is None  # the next one probes
