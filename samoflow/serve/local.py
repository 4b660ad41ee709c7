"""`samoflow up` / `down`: a local Prefect server, the work pool, deployments and a worker.

Everything is started as a detached process group and recorded in `<home>/up.json` with its
pid and start time; `down` stops exactly those (verified by start time), nothing else.
The server, deploys and workers are Prefect's own CLI (`prefect server start`, `prefect
deploy`, `prefect worker start`); the pool, the agent limit and the block types are set up in
`up`'s process over one client (samoflow.prefect_api.provision).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import psutil
from pydantic import BaseModel, ConfigDict, Field

from samoflow.atomic import atomic_write_model, read_model
from samoflow.serve.server_tuning import SERVER_TUNING

PROJECT_DIR = Path(__file__).resolve().parents[2]
WORK_POOL = "samoflow"
# The global concurrency limit every agent attempt takes a slot of, across all workers.
AGENT_LIMIT = "samoflow-agents"
BLOCK_MODULES = (
    "samoflow.blocks.agent_config",
    "samoflow.blocks.slack",
    "samoflow.blocks.telegram",
    "samoflow.blocks.webhook",
)
SERVER_DEADLINE_SECONDS = 120.0
# Prefect keeps concurrency leases in memory by default: a restarted server forgets them and
# the slots of holders that died meanwhile are never given back. On disk they survive.
LEASE_STORAGE = "prefect.server.concurrency.lease_storage.filesystem"


class ServedError(RuntimeError):
    """A step of `samoflow up` that failed; the message says which and why."""


class Started(BaseModel):
    model_config = ConfigDict(frozen=True)

    role: str  # "server" or "worker-N"
    pid: int
    started: float  # psutil create_time: a reused pid is never mistaken for ours
    log: str


class UpState(BaseModel):
    model_config = ConfigDict(frozen=True)

    api_url: str
    ui_url: str
    repo: str
    processes: list[Started] = Field(default_factory=list)
    database_url: str | None = None  # a later `up` adopts workers only for the same server
    home: str | None = None  # where own-roots workers keep their sessions


def default_home() -> Path:
    return Path(os.environ.get("SAMOFLOW_HOME", Path.home() / ".samoflow"))


def state_path(home: Path) -> Path:
    return home / "up.json"


def read_up(home: Path) -> UpState | None:
    path = state_path(home)
    return read_model(path, UpState)


def healthy(api_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def prefect_env(api_url: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    return {
        **SERVER_TUNING,  # the user's own values of these (in os.environ) win
        **os.environ,
        "PREFECT_API_URL": api_url,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        **(extra or {}),
    }


def server_env(api_url: str, database_url: str | None) -> dict[str, str]:
    """A server's environment: leases on disk, so a restart still frees a dead holder's slot."""
    env = prefect_env(api_url, {"PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE": LEASE_STORAGE})
    # Proactive (stall) triggers are checked every second instead of every 5 s.
    env["PREFECT_SERVER_EVENTS_PROACTIVE_GRANULARITY"] = "PT1S"
    if database_url:
        env["PREFECT_API_DATABASE_CONNECTION_URL"] = database_url
    return env


def _prefect(*args: str) -> list[str]:
    return [sys.executable, "-m", "prefect", *args]


def start_detached(role: str, argv: list[str], env: dict[str, str], home: Path) -> Started:
    log = home / "logs" / f"{role}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        process = subprocess.Popen(
            argv,
            env=env,
            cwd=PROJECT_DIR,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # survives the terminal closing
        )
    started = psutil.Process(process.pid).create_time()
    return Started(role=role, pid=process.pid, started=started, log=str(log))


def wait_for(condition: Callable[[], bool], deadline_seconds: float, what: str) -> None:
    deadline = time.monotonic() + deadline_seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.25)
    raise ServedError(f"{what} did not come up within {deadline_seconds:.0f} s")


def run_step(what: str, argv: list[str], env: dict[str, str]) -> None:
    """A Prefect CLI step (`prefect deploy`: idempotent, it updates deployments by name)."""
    done = subprocess.run(argv, env=env, cwd=PROJECT_DIR, capture_output=True, text=True)
    output = done.stdout + done.stderr
    if done.returncode != 0:
        raise ServedError(f"{what} failed (exit {done.returncode}):\n{output[-2000:]}")


def stop(process: Started, grace_seconds: float = 10.0) -> bool:
    """Stop one recorded process group if it is still the very process we started."""
    try:
        current = psutil.Process(process.pid)
        if abs(current.create_time() - process.started) > 0.01:
            return False  # the pid was reused by something that is not ours
    except psutil.NoSuchProcess:
        return False
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        current.wait(timeout=grace_seconds)
    except psutil.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        current.wait(timeout=grace_seconds)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # helpers the group leader left behind
    return True


def save_up(home: Path, state: UpState) -> None:
    atomic_write_model(state_path(home), state)


def forget_up(home: Path) -> None:
    state_path(home).unlink(missing_ok=True)
