"""Parallel speedup of a convoy: 8 sessions, each agent waits 2 s in 5 of its iterations.

Run: `.venv/bin/python -m benchmarks.convoy_speedup [SESSIONS] [SLEEP_SECONDS]`.
The same plan runs twice on fresh throwaway repositories: as a convoy with concurrency 1
(one session after another) and with concurrency = SESSIONS. Each session walks every phase
(7 iterations: the 2 human gates are auto-approved and do not sleep) and ends `done`.
Memory: the resident set of this process and all its children (agents, git), sampled every
0.1 s with psutil; the Prefect server this script starts is measured apart. Set
PREFECT_API_URL to use a server of your own instead.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import psutil

PREFECT_SERVER = [sys.executable, "-m", "prefect", "server", "start"]
SLEEPING_STEPS = {"init", "investigation", "implementation", "testing", "done"}
STEPS = [
    ("init", '{ status = "continue", phase = "investigation" }', 'overview = "init"'),
    ("investigation", '{ status = "continue", phase = "requirements" }', 'overview = "update"'),
    ("requirements", '{ status = "waiting", for = "qa" }', ""),
    ("planning", '{ status = "waiting", for = "plan_approval" }', ""),
    ("implementation", '{ status = "continue", phase = "testing" }', 'overview = "update"'),
    ("testing", '{ status = "continue", phase = "done" }', ""),
    ("done", '{ status = "done", summary = "benchmark session done" }', ""),
]


def scenario(sleep: float) -> str:
    parts = []
    for phase, signal, extra in STEPS:
        wait = f"sleep = {sleep}\n" if phase in SLEEPING_STEPS else ""
        body = f"{extra}\n" if extra else ""
        if phase == "implementation":
            body += 'write = { "src/{session}.py" = "X = 1\\n" }\ncommit = "work of {session}"\n'
        parts.append(f'[[steps]]\nsummary = "{phase}"\n{wait}{body}signal = {signal}\n')
    return "\n".join(parts)


def write_plan(folder: Path, name: str, sessions: int, concurrency: int, sleep: float) -> Path:
    (folder / "bench.toml").write_text(scenario(sleep), encoding="utf-8")
    lines = [f'name = "{name}"', f"concurrency = {concurrency}"]
    for i in range(sessions):
        lines += [
            "",
            "[[sessions]]",
            f'name = "s{i}"',
            f'task = "benchmark session {i}"',
            'scenario = "bench.toml"',
            "auto_approve = true",
        ]
    plan = folder / f"{name}.toml"
    plan.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return plan


class TreeMemory:
    """Peak RSS of this process and its descendants, minus the processes in `exclude`."""

    def __init__(self, exclude: set[int]) -> None:
        self.exclude = exclude
        self.peak = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)

    def _excluded(self) -> set[int]:
        pids = set(self.exclude)
        for pid in self.exclude:
            try:
                pids |= {c.pid for c in psutil.Process(pid).children(recursive=True)}
            except psutil.Error:
                continue
        return pids

    def _rss(self) -> int:
        me = psutil.Process()
        excluded = self._excluded()
        total = me.memory_info().rss
        for child in me.children(recursive=True):
            try:
                if child.pid not in excluded:
                    total += child.memory_info().rss
            except psutil.Error:
                continue
        return total

    def _sample(self) -> None:
        while not self.stop.wait(0.1):
            self.peak = max(self.peak, self._rss())

    def __enter__(self) -> TreeMemory:
        self.peak = self._rss()
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


def start_server(home: Path) -> subprocess.Popen[bytes]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    env.pop("PREFECT_API_URL", None)
    server = subprocess.Popen(
        [*PREFECT_SERVER, "--host", "127.0.0.1", "--port", str(port)],
        env={**env, "PREFECT_UI_ENABLED": "false"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/api"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2):
                break
        except OSError:
            time.sleep(0.2)
    else:
        raise RuntimeError("the Prefect server did not become healthy in 90 s")
    os.environ["PREFECT_API_URL"] = url
    return server


def run_once(
    sessions: int, concurrency: int, sleep: float, server_pids: set[int]
) -> dict[str, float]:
    from samoflow.cli.demo import make_demo_project
    from samoflow.convoy.setup import prepare_plan
    from samoflow.flows.convoy import run_convoy_flow
    
    folder = Path(tempfile.mkdtemp(prefix="samoflow-speedup-"))
    project = make_demo_project(folder)
    plan = write_plan(folder, f"bench-c{concurrency}", sessions, concurrency, sleep)
    with TreeMemory(server_pids) as memory:
        started, cpu_before, server_before = (
            time.perf_counter(),
            _cpu_seconds(),
            _server_cpu(server_pids),
        )
        record = run_convoy_flow(str(prepare_plan(plan, project, concurrency)[0]))
        elapsed, cpu = time.perf_counter() - started, _cpu_seconds() - cpu_before
        server_cpu = _server_cpu(server_pids) - server_before
    done = sum(1 for m in record.members if m.state.value == "done")
    if done != sessions:
        raise RuntimeError(f"only {done} of {sessions} sessions finished: {record.members}")
    return {
        "seconds": elapsed,
        "peak_mb": memory.peak / 2**20,
        "cpu": cpu,
        "server_cpu": server_cpu,
    }


def _server_cpu(pids: set[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            server = psutil.Process(pid)
            for process in [server, *server.children(recursive=True)]:
                times = process.cpu_times()
                total += times.user + times.system
        except psutil.Error:
            continue
    return total


def _cpu_seconds() -> float:
    """CPU of this process and its finished children (agents, git): not the server's."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def main(sessions: int = 8, sleep: float = 2.0) -> None:
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("SAMOFLOW_SLACK_BLOCK", "none-configured-benchmark")
    server = None
    if "PREFECT_API_URL" not in os.environ:
        server = start_server(Path(tempfile.mkdtemp(prefix="samoflow-speedup-prefect-")))
    server_pids = {server.pid} if server else set()
    try:
        if os.environ.get("BENCH_CONVOY_ONLY"):  # quick A/B of convoy settings
            print(f"convoy only: {run_once(sessions, sessions, sleep, server_pids)}")
            return
        serial = run_once(sessions, 1, sleep, server_pids)
        parallel = run_once(sessions, sessions, sleep, server_pids)
        server_mb = psutil.Process(server.pid).memory_info().rss / 2**20 if server else 0.0
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
    ideal = 5 * sleep
    print(f"\nsessions: {sessions}, agent sleep {sleep} s in 5 of 7 iterations each")
    print(f"one after another: {serial['seconds']:.1f} s (ideal {sessions * ideal:.0f} s)")
    print(f"convoy, {sessions} at once: {parallel['seconds']:.1f} s (ideal {ideal:.0f} s)")
    print(f"speedup: {serial['seconds'] / parallel['seconds']:.2f}x")
    cores = psutil.cpu_count() or 1
    print(
        f"CPU used (client side): {serial['cpu']:.0f} s one after another, "
        f"{parallel['cpu']:.0f} s as a convoy ({parallel['cpu'] / parallel['seconds'] / cores:.0%}"
        f" of {cores} cores during the convoy)"
    )
    if server_pids:
        print(
            f"CPU used by the Prefect server: {serial['server_cpu']:.0f} s one after another, "
            f"{parallel['server_cpu']:.0f} s during the convoy"
        )
    print(f"peak memory, one after another: {serial['peak_mb']:.0f} MB (process tree)")
    print(f"peak memory, convoy: {parallel['peak_mb']:.0f} MB (process tree)")
    extra = (parallel["peak_mb"] - serial["peak_mb"]) / max(sessions - 1, 1)
    print(f"per extra concurrent session: {extra:.1f} MB")
    if server is not None:
        print(f"Prefect server (measured apart): {server_mb:.0f} MB")


if __name__ == "__main__":
    args = [float(a) for a in sys.argv[1:3]]
    main(int(args[0]) if args else 8, args[1] if len(args) > 1 else 2.0)
