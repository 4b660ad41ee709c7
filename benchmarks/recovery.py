"""Recovery time: SIGKILL a session's orchestrator, time until the session runs again.

Run: `.venv/bin/python -m benchmarks.recovery [TRIALS]`. A `samoflow monitor --interval 5`
process watches the sessions; each trial starts a session (scripted agent, real git),
kills its orchestrator mid-iteration and times, from the kill:
  restarted  the monitor noticed and launched a new orchestrator (its placeholder lease)
  lease      the new process holds the lease: heartbeat fresh from a new pid
  flow       the session flow runs again on Prefect (the lease carries its flow run id)
  iteration  the next iteration is recorded in the history
Uses PREFECT_API_URL when set, else starts `prefect server start` on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

from samoflow.cli.demo import make_demo_project
from samoflow.health.lease import Lease, read_lease
from samoflow.health.restart import launch_local
from samoflow.project import load_config
from samoflow.session.files import SessionFiles
from samoflow.session.history import iterations, read_history
from samoflow.session.journal import read_journal
from samoflow.session.spec import AgentKind, AgentSpec
from samoflow.session.store import create_session

MONITOR_INTERVAL_SECONDS = 5
DEADLINE_SECONDS = 120.0
STEP = """
[[steps]]
sleep = 1.0
signal = {{ status = "continue", phase = "{phase}" }}
"""
PHASES = ["investigation", "requirements", "planning", "implementation", "testing", "quality",
          "done"]
SCENARIO = "".join(STEP.format(phase=p) for p in PHASES) + (
    '\n[[steps]]\nsignal = { status = "done", summary = "recovered" }\n'
)
MARKS = ("restarted", "lease", "flow", "iteration")


def poll(condition: Callable[[], bool], what: str, every: float = 0.01) -> float:
    """Wait for `condition` with a deadline; returns the monotonic time it first held."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, ValueError):
            if condition():
                return time.monotonic()
        time.sleep(every)
    raise TimeoutError(f"no {what} within {DEADLINE_SECONDS} s")


@contextlib.contextmanager
def prefect_api(home: Path) -> Iterator[None]:
    """A served Prefect API, as `samoflow up` runs it (the embedded one restarts per process)."""
    if os.environ.get("PREFECT_API_URL"):
        yield
        return
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PREFECT_UI_ENABLED": "false"}
    with (home / "server.log").open("wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
             "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
    url = f"http://127.0.0.1:{port}/api"
    try:
        poll(lambda: urllib.request.urlopen(f"{url}/health", timeout=2).status == 200,
             "healthy Prefect server", every=0.2)
        os.environ.update(PREFECT_API_URL=url, PREFECT_HOME=str(home))
        yield
    finally:
        server.terminate()
        server.wait(timeout=30)


def start_session(project: Path, name: str, scenario: Path) -> SessionFiles:
    files = create_session(
        load_config(project), name=name, task="measure recovery", dive=None,
        agent=AgentSpec(kind=AgentKind.SCRIPTED, scenario=str(scenario)), auto_approve_gates=True,
    )
    launch_local(files)
    return files


def running(files: SessionFiles) -> Lease | None:
    lease = read_lease(files.lease)
    return lease if lease is not None and lease.started_by == "self" else None


def trial(files: SessionFiles) -> dict[str, float]:
    """Kill the orchestrator while its agent runs iteration 2; seconds from kill to each mark."""
    def agent_busy() -> bool:
        journal = read_journal(files.journal)
        return running(files) is not None and journal is not None and (
            journal.iteration == 2 and journal.agent_pid is not None)

    poll(agent_busy, "iteration 2 in flight")
    old = running(files)
    assert old is not None
    recorded = len(iterations(read_history(files.history)))
    os.kill(old.pid, signal.SIGKILL)
    killed = time.monotonic()

    def new_lease(check: Callable[[Lease], bool]) -> Callable[[], bool]:
        return lambda: (lease := read_lease(files.lease)) is not None and (
            lease.pid != old.pid and check(lease))

    marks = {
        "restarted": poll(new_lease(lambda lease: True), "restart"),
        "lease": poll(new_lease(lambda lease: lease.started_by == "self"), "new lease"),
        "flow": poll(new_lease(lambda lease: lease.flow_run_id is not None), "flow run"),
        "iteration": poll(lambda: len(iterations(read_history(files.history))) > recorded,
                          "next iteration"),
    }
    poll(lambda: not files.lease.exists(), "the session to end")
    return {name: at - killed for name, at in marks.items()}


def main(trials: int = 3) -> None:
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    workdir = Path(tempfile.mkdtemp(prefix="samoflow-recovery-"))
    project = make_demo_project(workdir)
    scenario = workdir / "recovery.toml"
    scenario.write_text(SCENARIO, encoding="utf-8")
    with prefect_api(workdir):
        monitor = subprocess.Popen(
            [sys.executable, "-m", "samoflow.cli.monitor", "--interval",
             str(MONITOR_INTERVAL_SECONDS), "--repo", str(project)],
            stdout=(workdir / "monitor.log").open("wb"), stderr=subprocess.STDOUT)
        try:
            results = [trial(start_session(project, f"trial-{n}", scenario))
                       for n in range(1, trials + 1)]
        finally:
            monitor.send_signal(signal.SIGINT)
            monitor.wait(timeout=30)
    print(f"monitor interval {MONITOR_INTERVAL_SECONDS} s, {trials} trials, seconds from SIGKILL:")
    print("trial  " + "  ".join(f"{m:>9}" for m in MARKS))
    for n, result in enumerate(results, start=1):
        print(f"{n:>5}  " + "  ".join(f"{result[m]:9.2f}" for m in MARKS))
    print("median " + "  ".join(f"{statistics.median(r[m] for r in results):9.2f}" for m in MARKS))
    print(f"(work dir: {workdir})")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
