"""Inbox figures: how fast `send` stores a message, and how soon a running session has it.

Run: `.venv/bin/python -m benchmarks.inbox_latency [MESSAGES]` (starts its own
`prefect server start` on 127.0.0.1 unless PREFECT_API_URL is set).
- store: `send_message` into Prefect (a Variable per message), one sender, then 4 threads;
- delivery: a session whose agent takes ~1 s per iteration; messages sent at moments spread
  over the iterations; time from send to the file in `_inbox/` (bounded by the iteration
  boundary: delivery happens when the next iteration starts).
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

SCENARIO = """
repeat_last = true
[[steps]]
overview = "init"
signal = { status = "continue", phase = "investigation" }
[[steps]]
sleep = 1.0
signal = { status = "continue" }
"""


def _serve() -> subprocess.Popen[bytes] | None:
    if os.environ.get("PREFECT_API_URL"):
        return None
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    home = tempfile.mkdtemp(prefix="prefect-bench-")
    env = {**os.environ, "PREFECT_HOME": home, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "prefect",
            "server",
            "start",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/api"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{url}/health", timeout=2)
            break
        except OSError:
            time.sleep(0.3)
    os.environ["PREFECT_API_URL"] = url
    return server


def _ms(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[max(0, int(len(ordered) * 0.95) - 1)]
    return f"mean {statistics.mean(values) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms"


def main(messages: int = 60) -> None:
    server = _serve()
    try:
        measure(messages)
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)


def measure(messages: int) -> None:
    from samoflow.cli.demo import make_demo_project
    from samoflow.flows.session import session_flow
    from samoflow.inbox.messages import new_message
    from samoflow.project import load_config
    from samoflow.session.spec import AgentKind, AgentSpec
    from samoflow.session.store import create_session
    from samoflow.tasks.inbox import send_message

    work = Path(tempfile.mkdtemp(prefix="samoflow-inbox-"))
    (work / "echo.toml").write_text(SCENARIO)
    repo = make_demo_project(work)
    config = load_config(repo)
    spec = AgentSpec(kind=AgentKind.SCRIPTED, scenario=str(work / "echo.toml"))
    create_session(config, name="sink", task="t", dive=None, agent=spec)
    stored = []
    for n in range(messages):
        started = time.perf_counter()
        send_message(config.sessions, new_message("sink", f"m{n}"))
        stored.append(time.perf_counter() - started)
    print(f"store, one sender:     {_ms(stored)}, {messages / sum(stored):.1f} sends/s")

    def burst(worker: int) -> None:
        for n in range(messages // 4):
            send_message(config.sessions, new_message("sink", f"w{worker}-{n}"))

    started = time.perf_counter()
    threads = [threading.Thread(target=burst, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    print(f"store, 4 senders:      {messages / wall:.1f} sends/s ({messages} messages)")

    files = create_session(config, name="live", task="t", dive=None, agent=spec)
    os.environ["SAMOFLOW_MAX_TOTAL_ITERATIONS"] = "14"
    runner = threading.Thread(target=session_flow, args=(str(files.root),), daemon=True)
    runner.start()
    while not (files.root / "_iteration.json").exists():
        time.sleep(0.05)
    delays = []
    for n in range(8):
        time.sleep(0.37 * (n % 3))  # land at different moments of an iteration
        sent = time.perf_counter()
        message = send_message(config.sessions, new_message("live", f"live {n}"))
        target = [files.inbox / message.file_name, files.inbox_read / message.file_name]
        while not any(p.exists() for p in target):
            time.sleep(0.01)
        delays.append(time.perf_counter() - sent)
    print(f"delivery to _inbox/:   {_ms(delays)} (agent iteration ~1 s)")
    runner.join(timeout=120)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 60)
