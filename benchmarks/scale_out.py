"""Scale-out: one convoy of 50 scripted sessions run by two workers of a served setup.

Run: `.venv/bin/python -m benchmarks.scale_out [SESSIONS] [SLEEP_SECONDS] [--sqlite |
--system-postgres] [--deadline SECONDS]`.
`samoflow up` starts a Prefect server (on its embedded PostgreSQL, the default; on Prefect's
SQLite with `--sqlite`; on a fresh database of the machine's PostgreSQL at 127.0.0.1:5432
with `--system-postgres`), two process workers and everything else, in a throwaway home;
`samoflow convoy` then creates the convoy's deployment run, which dispatches every member as
a run of the session deployment (all at once: concurrency = SESSIONS). Each session walks
every phase (7 iterations, 5 of them sleeping SLEEP_SECONDS; the gates are auto-approved).
Past the deadline (default 30 min) the run is given up and what was seen is reported.

Measured, sampled every 0.5 s from this process:
- wall time from `samoflow convoy` to the convoy run COMPLETED, and per member;
- peak resident memory (RSS) of each started process tree (the embedded PostgreSQL, the
  server, each worker with its flow-run processes, their agents and git), and the peak PSS
  of all of them at once (shared pages counted once), also per session;
- Prefect API latency: `GET /health` (the web server alone) and `POST /flow_runs/filter`
  for one run (a database read), median / p95 / max over the run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from datetime import datetime
from pathlib import Path

import psutil

from benchmarks.convoy_speedup import write_plan
from samoflow.cli.demo import make_demo_project
from samoflow.convoy.record import convoy_path
from samoflow.project import load_config
from samoflow.serve.local import read_up

PSQL = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-qtAc"]
SAMOFLOW = [sys.executable, "-m", "samoflow.cli"]
SAMPLE_SECONDS = 0.5


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tree_memory(pid: int) -> tuple[int, int]:
    """RSS and PSS of a process tree: PSS splits shared pages (PostgreSQL's shared buffers,
    the workers' Python libraries) among their sharers, so PSS adds up across trees."""
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0, 0
    rss = pss = 0
    for process in processes:
        try:
            full = process.memory_full_info()
        except psutil.Error:
            continue
        rss += full.rss
        pss += full.pss
    return rss, pss


class Sampler:
    """Peak tree memory per started process, and API latencies, until stopped."""

    def __init__(self, pids: dict[str, int], api_url: str) -> None:
        self.pids = pids
        self.api_url = api_url
        self.peak_mb = dict.fromkeys(pids, 0.0)
        self.peak_total_mb = 0.0
        self.health_ms: list[float] = []
        self.query_ms: list[float] = []
        self.errors = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _timed(self, request: urllib.request.Request, into: list[float]) -> None:
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                response.read()
        except OSError:
            self.errors += 1
            return
        into.append((time.perf_counter() - started) * 1000)

    def _run(self) -> None:
        query = json.dumps({"limit": 1, "sort": "EXPECTED_START_TIME_DESC"}).encode()
        while not self.stop.wait(SAMPLE_SECONDS):
            total = 0.0
            for role, pid in self.pids.items():
                rss, pss = tree_memory(pid)
                self.peak_mb[role] = max(self.peak_mb[role], rss / 2**20)
                total += pss / 2**20
            self.peak_total_mb = max(self.peak_total_mb, total)
            self._timed(urllib.request.Request(f"{self.api_url}/health"), self.health_ms)
            self._timed(
                urllib.request.Request(
                    f"{self.api_url}/flow_runs/filter",
                    data=query,
                    headers={"Content-Type": "application/json"},
                    method="POST",
                ),
                self.query_ms,
            )

    def __enter__(self) -> Sampler:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


def spread(values: list[float]) -> str:
    if not values:
        return "no samples"
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return f"median {statistics.median(ordered):.0f} ms, p95 {p95:.0f} ms, max {ordered[-1]:.0f} ms"


def poll_convoy(api_url: str, sampler: Sampler) -> str | None:
    """The convoy run's state; an API too busy to answer in 30 s counts as an error."""
    try:
        return convoy_run_state(api_url)
    except OSError:
        sampler.errors += 1
        return None


def convoy_run_state(api_url: str) -> str | None:
    body = {"flows": {"name": {"any_": ["samoflow-convoy"]}}, "limit": 1}
    runs = post(f"{api_url}/flow_runs/filter", body)
    return str(runs[0]["state_type"]) if isinstance(runs, list) and runs else None


def main(sessions: int, sleep: float, database: str, deadline: float) -> None:
    folder = Path(tempfile.mkdtemp(prefix="samoflow-scale-"))
    home = folder / "home"
    env = {
        **os.environ,
        "HOME": str(home),
        "PREFECT_HOME": str(home / ".prefect"),
        "SAMOFLOW_HOME": str(home / ".samoflow"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "SAMOFLOW_SLACK_BLOCK": "none-configured-benchmark",
    }
    env.pop("PREFECT_API_URL", None)
    project = make_demo_project(folder / "project")
    plan = write_plan(folder, "scale", sessions, sessions, sleep)
    system_database = f"samoflow_bench_{uuid.uuid4().hex[:8]}"
    up = [*SAMOFLOW, "up", "--repo", str(project), "--workers", "2", "--own-roots"]
    up += ["--port", str(free_port()), "--max-agents", str(sessions)]
    if database == "sqlite":
        up.append("--sqlite")
    if database == "system":
        subprocess.run([*PSQL, f"create database {system_database}"], check=True, timeout=30)
        up += ["--database-url", f"postgresql+asyncpg://postgres@127.0.0.1:5432/{system_database}"]
    print(f"load average before: {os.getloadavg()}")
    try:
        began = time.perf_counter()
        subprocess.run(up, env=env, check=True, timeout=600)
        print(f"samoflow up: {time.perf_counter() - began:.1f} s")
        state = read_up(home / ".samoflow")
        assert state is not None
        with Sampler({p.role: p.pid for p in state.processes}, state.api_url) as sampler:
            wall = run_convoy(plan, project, env, state.api_url, sampler, deadline)
        report(project, state.api_url, sampler, database, sessions, sleep, wall)
    finally:
        print(f"load average after: {os.getloadavg()}")
        subprocess.run([*SAMOFLOW, "down"], env=env, timeout=180)
        if database == "system":
            drop = f"drop database if exists {system_database} with (force)"
            subprocess.run([*PSQL, drop], timeout=60)


def run_convoy(
    plan: Path, project: Path, env: dict[str, str], api_url: str, sampler: Sampler, deadline: float
) -> float:
    """`samoflow convoy`, then until its run is over or the deadline: the wall time."""
    started = time.perf_counter()
    subprocess.run(
        [*SAMOFLOW, "convoy", str(plan), "--repo", str(project)], env=env, check=True, timeout=600
    )
    while poll_convoy(api_url, sampler) not in ("COMPLETED", "FAILED", "CRASHED"):
        if time.perf_counter() - started > deadline:
            print(f"given up after the deadline of {deadline:.0f} s")
            break
        time.sleep(1)
    return time.perf_counter() - started


def report(
    project: Path,
    api_url: str,
    sampler: Sampler,
    database: str,
    sessions: int,
    sleep: float,
    wall: float,
) -> None:
    try:
        final = convoy_run_state(api_url)
    except OSError as error:
        final = f"unknown ({error})"
    record_path = convoy_path(load_config(project).sessions, "scale")  # prepared by the CLI
    members = json.loads(record_path.read_text())["members"] if record_path.exists() else []
    done = sum(1 for m in members if m["state"] == "done")
    per_member = [
        timestamp(m["finished_at"]) - timestamp(m["started_at"])
        for m in members
        if m["finished_at"] and m["started_at"]
    ] or [0.0]
    print(f"database: {database}; convoy run {final}")
    print(f"{done}/{sessions} sessions done; wall time {wall:.1f} s")
    print(
        f"per member: median {statistics.median(per_member):.1f} s, "
        f"max {max(per_member):.1f} s (each: 7 iterations, {5 * sleep:.0f} s of agent sleep)"
    )
    for role, peak in sampler.peak_mb.items():
        print(f"peak memory (RSS) {role}: {peak:.0f} MB")
    workers = sum(peak for role, peak in sampler.peak_mb.items() if role.startswith("worker-"))
    print(f"workers' RSS peaks per session: {workers / sessions:.0f} MB")
    total = sampler.peak_total_mb
    print(f"peak PSS of everything at once: {total:.0f} MB, {total / sessions:.0f} MB per session")
    print(f"API GET /health: {spread(sampler.health_ms)}")
    print(f"API POST /flow_runs/filter: {spread(sampler.query_ms)}")
    print(f"API calls failed or timed out (30 s) during the run: {sampler.errors}")
    with contextlib.suppress(OSError):
        print(f"session runs per worker: {members_per_worker(api_url)}")


def timestamp(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()


def post(url: str, body: object) -> object:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def members_per_worker(api_url: str) -> dict[str, int]:
    """Session flow runs each worker submitted, from the workers' own Prefect events."""
    names = ["prefect.worker.submitted-flow-run"]
    page = post(f"{api_url}/events/filter", {"filter": {"event": {"name": names}}, "limit": 50})
    counts: dict[str, int] = {}
    while isinstance(page, dict):
        for event in page["events"]:
            flows = [r for r in event["related"] if r.get("prefect.resource.role") == "flow"]
            if any(r.get("prefect.resource.name") == "samoflow-session" for r in flows):
                worker = event["resource"]["prefect.resource.name"]
                counts[worker] = counts.get(worker, 0) + 1
        if not page.get("next_page"):
            break
        with urllib.request.urlopen(page["next_page"], timeout=30) as response:
            page = json.loads(response.read())
    return dict(sorted(counts.items()))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("sessions", type=int, nargs="?", default=50)
    parser.add_argument("sleep", type=float, nargs="?", default=2.0)
    chosen = parser.add_mutually_exclusive_group()
    chosen.add_argument("--sqlite", action="store_const", dest="database", const="sqlite")
    chosen.add_argument("--system-postgres", action="store_const", dest="database", const="system")
    parser.add_argument("--deadline", type=float, default=1800.0)
    arguments = parser.parse_args()
    main(arguments.sessions, arguments.sleep, arguments.database or "embedded", arguments.deadline)
