"""Start a session's orchestrator again: a detached local `python -m samoflow.cli.resume` process.

This is the local launcher. The monitor takes any `Launcher`, which is the seam for
deployment runs later: a launcher that creates a flow run of the session deployment instead.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import psutil
from pydantic import BaseModel, ConfigDict

from samoflow.session.files import SessionFiles

_LOG_NUMBER = re.compile(r"orchestrator-(\d+)\.log$")


class Launched(BaseModel):
    """The orchestrator a launcher started: the monitor writes its lease at once."""

    model_config = ConfigDict(frozen=True)

    pid: int
    started: float  # psutil create_time; 0.0 if it was gone before it could be read
    log_path: Path


Launcher = Callable[[SessionFiles], Launched]


def orchestrator_command(files: SessionFiles) -> list[str]:
    return [sys.executable, "-m", "samoflow.cli.resume", str(files.root)]


def next_log_path(files: SessionFiles) -> Path:
    """`_logs/orchestrator-<n>.log`, one per launch, so each restart's output is kept."""
    numbers = [
        int(match.group(1))
        for path in (files.logs.glob("orchestrator-*.log") if files.logs.is_dir() else [])
        if (match := _LOG_NUMBER.search(path.name))
    ]
    return files.logs / f"orchestrator-{max(numbers, default=0) + 1}.log"


def launch_local(files: SessionFiles) -> Launched:
    """Start the orchestrator detached from us (own session), its output in its own log."""
    log_path = next_log_path(files)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            orchestrator_command(files),
            cwd=files.root,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # outlives the monitor and its terminal's Ctrl-C
        )
    # Reap it when it ends: a long-running monitor must not collect zombies.
    threading.Thread(target=process.wait, name=f"reap-{process.pid}", daemon=True).start()
    try:
        started = psutil.Process(process.pid).create_time()
    except psutil.Error:
        started = 0.0
    return Launched(pid=process.pid, started=started, log_path=log_path)
