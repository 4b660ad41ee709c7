"""Two sessions started at once from two shells, with no `samoflow up` and no PREFECT_API_URL:
both run on ONE local Prefect server (the first starts it, the second reuses it), both finish,
and the server goes away once nobody uses it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from samoflow.serve.shared import record_path
from tests.conftest import make_repo, wait_until
from tests.support.processes import ours

pytestmark = pytest.mark.slow


def test_two_shells_share_one_local_server_that_stops_when_idle(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    samoflow_home = home / ".samoflow"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env |= {
        "HOME": str(home),
        "SAMOFLOW_HOME": str(samoflow_home),
        "SAMOFLOW_LOCAL_SERVER_IDLE_SECONDS": "3",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    repo = make_repo(tmp_path / "project")
    shells = [
        subprocess.Popen(
            [sys.executable, "-m", "samoflow.cli", "run", f"task {name}", "--session", name,
             "--repo", str(repo), "--auto-approve", "--verbose", "--agent", "scripted"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        for name in ("one", "two")
    ]
    outputs = [shell.communicate(timeout=900)[0] for shell in shells]
    for shell, output in zip(shells, outputs, strict=True):
        assert shell.returncode == 0, output[-3000:]
    servers = {port for out in outputs for port in re.findall(r"127\.0\.0\.1:(\d+)/runs", out)}
    assert len(servers) == 1, servers  # both sessions' runs on the same server
    assert "".join(outputs).count("starting the local Prefect server") == 1
    wait_until(lambda: not ours(samoflow_home), 120, "the idle local server to stop")
    assert not record_path(samoflow_home).exists()
