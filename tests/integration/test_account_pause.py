"""An account's pause lives in Prefect: it outlives a SIGKILLed orchestrator; a human resumes it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from samoflow.economy.accounts import AccountState
from samoflow.project import load_config
from samoflow.session.history import read_history
from samoflow.session.store import find_session
from samoflow.tasks.account_store import read_status
from tests.conftest import wait_until

pytestmark = pytest.mark.usefixtures("prefect_api")

# What a CLI prints when its subscription is out: the reset is hours away (next 3:30am UTC).
LIMITED = """#!/bin/sh
echo "You've hit your limit · resets 3:30am (UTC)"
exit 1
"""


def cli(repo: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "samoflow.cli", *args],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        cwd=repo,
    )


def _waiting(repo: Path) -> bool:
    """The session runs its wait-for-account task (its history says so)."""
    files = find_session(load_config(repo).sessions, "nightly")
    return any("waiting: account" in (e.reason or "") for e in read_history(files.history))


def test_a_pause_survives_a_sigkilled_orchestrator_and_resumes_by_hand(
    repo: Path, tmp_path: Path
) -> None:
    account = f"night-{uuid.uuid4().hex[:6]}"
    script = tmp_path / "limited.sh"
    script.write_text(LIMITED)
    env = {**os.environ, "SAMOFLOW_ACCOUNT": account, "SAMOFLOW_ACCOUNT_POLL_SECONDS": "0.5"}
    env["COLUMNS"] = "250"  # the table on one line per account
    assert cli(repo, env, "init", "--repo", str(repo)).returncode == 0
    run = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "samoflow.cli",
            "run",
            "greet",
            "--session",
            "nightly",
            "--agent",
            "command",
            "--agent-command",
            f"sh {script}",
            "--local",
            "--repo",
            str(repo),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_until(
            lambda: read_status(account).state is AccountState.PAUSED, 120, "the account paused"
        )
        wait_until(lambda: _waiting(repo), 60, "the session waiting for its account")
        paused = read_status(account)
        os.killpg(run.pid, signal.SIGKILL)
        run.wait(timeout=30)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
    after_kill = read_status(account)  # read from the server, by a process that never paused it
    assert after_kill.state is AccountState.PAUSED and after_kill.until == paused.until
    assert paused.until is not None and paused.until.hour == 3 and paused.until.minute == 31
    shown = cli(repo, env, "limits")
    assert shown.returncode == 0 and account in shown.stdout and "paused" in shown.stdout
    resumed = cli(repo, env, "limits", "resume", account)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert read_status(account).state is AccountState.ACTIVE
    again = cli(repo, env, "limits", "resume", account)
    assert again.returncode == 2 and "not paused" in again.stdout
