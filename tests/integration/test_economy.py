"""The budget breaker and rate-limit waits on real sessions (scripted and command agents)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from samoflow.economy.breakers import RATE_LIMIT_NEEDS
from samoflow.economy.budget import BudgetLimits, read_limits, write_limits
from samoflow.flows.session import session_flow
from samoflow.project import load_config
from samoflow.session.history import EntryKind, iterations, read_history
from samoflow.session.spec import AgentKind, AgentSpec
from samoflow.session.state import Lifecycle
from samoflow.session.store import create_session
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
