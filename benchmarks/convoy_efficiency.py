"""Efficiency of a 12-member convoy on the embedded default: longest member's agent time /
convoy wall.

Run: `.venv/bin/python -m benchmarks.convoy_efficiency [MEMBERS] [SLEEP_SECONDS] [RUNS]`
(12 members, 3 s, 2 runs on one warm API by default).
Every member's agent is a `command` agent speaking only the file contract (no samoflow code):
it walks the phases in 7 iterations and sleeps SLEEP_SECONDS (3) in 5 of them (init,
investigation, implementation, testing, done; the 2 human gates are auto-approved), and
commits one file so the merge queue lands real work. All members run at once (the plan's
`concurrency` = MEMBERS). The API is the one `samoflow convoy` reaches with nothing served and
no PREFECT_API_URL: `SAMOFLOW_PREFECT_API=embedded` (the default here) is Prefect's own
temporary SQLite server, `shared` the shared local server; SAMOFLOW_HOME and PREFECT_HOME are
throwaway folders (a fresh database, as a new user has; no other process writes to it).
A warm-up flow run starts the API first (its time is printed apart). The wall is the convoy
flow's run (worktrees are created before it, by `prepare_plan`, timed apart); a member's agent
time is the sum of its history rows' `duration_seconds` (the agent processes' wall). The rest
is split three ways from the rows' timestamps: how late the last member's first agent starts,
the mean time between one agent's end and the next agent's start, and the end (the last
signal to the convoy run's return: the members' flow ends, merges, delivery, announcement).
Memory: the peak RSS of this process and every descendant (agents, git, the API server),
sampled every 0.1 s with psutil; the server's own share is printed too.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import psutil

from benchmarks.convoy_speedup import TreeMemory

CONTRACT_AGENT = r"""#!/usr/bin/env python3
import json, os, subprocess, time
from pathlib import Path

session = Path(os.environ["SAMOFLOW_SESSION_DIR"])
work = Path(os.environ["SAMOFLOW_WORKING_DIR"])
phase = os.environ["SAMOFLOW_PHASE"]
overview = session / "_overview.md"
if not overview.exists():
    overview.write_text("# bench\n\n## Status\nPhase: init\nIteration: 1\nTotal Iterations: 0\n")
if phase not in ("requirements", "planning"):
    time.sleep(float(os.environ["BENCH_SLEEP"]))
if phase == "implementation":
    (work / "src").mkdir(exist_ok=True)
    (work / "src" / f"{session.name}.py").write_text("X = 1\n")
    git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@samoflow.invalid"]
    subprocess.run([*git, "add", "-A"], cwd=work, check=True)
    subprocess.run([*git, "commit", "-qm", f"work of {session.name}"], cwd=work, check=True)
signal = {
    "init": {"status": "continue", "phase": "investigation"},
    "investigation": {"status": "continue", "phase": "requirements"},
    "requirements": {"status": "waiting", "for": "qa"},
    "planning": {"status": "waiting", "for": "plan_approval"},
    "implementation": {"status": "continue", "phase": "testing"},
    "testing": {"status": "continue", "phase": "done"},
}.get(phase, {"status": "done", "summary": "benchmark member done"})
(session / "_signal.json").write_text(json.dumps(signal))
"""


def write_plan(folder: Path, members: int, sleep: float) -> Path:
    agent = folder / "contract-agent"
    agent.write_text(CONTRACT_AGENT, encoding="utf-8")
    agent.chmod(0o755)
    lines = ['name = "efficiency"', f"concurrency = {members}"]
    for i in range(members):
        lines += [
            "",
            "[[sessions]]",
            f'name = "m{i:02d}"',
            f'task = "benchmark member {i}"',
            'agent = "command"',
            f'agent_command = "{sys.executable} {agent}"',
            "auto_approve = true",
        ]
    plan = folder / "efficiency.toml"
    plan.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.environ["BENCH_SLEEP"] = str(sleep)  # the agents inherit it
    return plan


class MemberTimes:
    """A member's agent time and, on the wall clock, its first agent start and last row."""

    def __init__(self, session_dir: Path) -> None:
        from samoflow.session.history import iterations, read_history

        rows = iterations(read_history(session_dir / "_signal_history.jsonl"))
        self.agent = sum(row.duration_seconds for row in rows)
        self.first_start = rows[0].timestamp.timestamp() - rows[0].duration_seconds
        self.last_row = rows[-1].timestamp.timestamp()
        # Between agents: from one agent's start to the next, less the agents' own time.
        self.between = (self.last_row - self.first_start - self.agent) / max(len(rows) - 1, 1)


def warm_up() -> float:
    """One trivial flow run: the API (a server subprocess, embedded or shared) is up after.
    samoflow's Prefect side is imported first, as every samoflow command does before its
    first flow: the temporary server starts with the settings samoflow gives its servers."""
    from prefect import flow

    import samoflow.prefect_api  # noqa: F401

    @flow(name="samoflow-benchmark-warm-up")
    def nothing() -> None:
        return None

    started = time.perf_counter()
    nothing()
    return time.perf_counter() - started


def servers() -> list[psutil.Process]:
    """The descendants that are Prefect servers (not agents, not git)."""
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            line = " ".join(child.cmdline())
        except psutil.Error:
            continue
        if "uvicorn" in line or "prefect" in line or "samoflow.serve" in line:
            found.append(child)
    return found


def server_mb() -> float:
    total = 0
    for server in servers():
        try:
            total += server.memory_info().rss
        except psutil.Error:
            continue
    return total / 2**20


def server_cpu() -> float:
    total = 0.0
    for server in servers():
        try:
            times = server.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


def run(members: int, sleep: float) -> dict[str, float]:
    from samoflow.cli.demo import make_demo_project
    from samoflow.convoy.setup import prepare_plan
    from samoflow.flows.convoy import run_convoy_flow

    folder = Path(tempfile.mkdtemp(prefix="samoflow-efficiency-"))
    project = make_demo_project(folder)
    plan = write_plan(folder, members, sleep)
    started = time.perf_counter()
    path, _ = prepare_plan(plan, project, members)
    prepared = time.perf_counter() - started
    with TreeMemory(set()) as memory:
        began, cpu_before, server_before = time.time(), os.times(), server_cpu()
        record = run_convoy_flow(str(path))
        ended, cpu_after, server = time.time(), os.times(), server_mb()
    landed = [m for m in record.members if m.merge is not None and m.merge.status == "merged"]
    if len(landed) != members or record.notice is None:
        raise RuntimeError(f"{len(landed)} of {members} members landed: {record.members}")
    times = [MemberTimes(Path(m.session_dir)) for m in record.members]
    return {
        "prepare": prepared,
        "wall": ended - began,
        "longest": max(t.agent for t in times),
        "last_start": max(t.first_start for t in times) - began,
        "between": sum(t.between for t in times) / len(times),
        "end": ended - max(t.last_row for t in times),
        "peak_mb": memory.peak / 2**20,
        "server_mb": server,
        "cpu": cpu_after.user + cpu_after.system - cpu_before.user - cpu_before.system,
        "children_cpu": sum(cpu_after[2:4]) - sum(cpu_before[2:4]),
        "server_cpu": server_cpu() - server_before,
    }


def choose_api() -> str:
    """What `samoflow convoy` reaches with nothing served (see samoflow/serve/reach.py)."""
    from samoflow.serve.reach import choose

    os.environ.setdefault("SAMOFLOW_PREFECT_API", "embedded")
    os.environ.setdefault("SAMOFLOW_HOME", tempfile.mkdtemp(prefix="samoflow-efficiency-home-"))
    route = choose(Path(os.environ["SAMOFLOW_HOME"]), os.environ)
    if route.api_url is not None:
        os.environ["PREFECT_API_URL"] = route.api_url
    return route.source.value


def report(result: dict[str, float], load: tuple[float, float]) -> None:
    print(f"\nload average {load[0]:.2f} before, {load[1]:.2f} after")
    print(f"worktrees and sessions prepared: {result['prepare']:.1f} s (before the convoy run)")
    print(f"convoy wall: {result['wall']:.1f} s")
    print(f"longest member's agent time: {result['longest']:.1f} s")
    print(f"efficiency: {result['longest'] / result['wall']:.0%}")
    print(
        f"where the rest goes: the last member's first agent starts {result['last_start']:.1f} s "
        f"into the run; {result['between']:.2f} s between a member's agents (mean); "
        f"{result['end']:.1f} s from the last agent's signal to the run's end"
    )
    print(
        f"peak memory: {result['peak_mb']:.0f} MB (process tree; the API server "
        f"{result['server_mb']:.0f} MB of it at the end)"
    )
    print(
        f"CPU during the convoy: this process {result['cpu']:.1f} s, agents and git "
        f"{result['children_cpu']:.1f} s, the API server {result['server_cpu']:.1f} s"
    )


def main(members: int = 12, sleep: float = 3.0, runs: int = 2) -> None:
    # Prefect's own database, not ~/.prefect's: another process on that file stalls this one.
    os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="samoflow-efficiency-prefect-"))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("SAMOFLOW_SLACK_BLOCK", "none-configured-benchmark")
    # A loaded machine starts Prefect's temporary server slower than its 20 s default.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    source = choose_api()
    print(f"API: {source}; warm-up flow run {warm_up():.1f} s")
    print(f"{members} members at once, each agent sleeping {sleep:g} s in 5 of 7 iterations")
    results = []
    for _ in range(runs):
        before = os.getloadavg()[0]
        results.append(run(members, sleep))
        report(results[-1], (before, os.getloadavg()[0]))
    best = max(r["longest"] / r["wall"] for r in results)
    print(
        f"\nefficiency over {runs} runs: "
        + ", ".join(f"{r['longest'] / r['wall']:.0%}" for r in results)
        + f" (best {best:.0%})"
    )


if __name__ == "__main__":
    args = [float(a) for a in sys.argv[1:4]]
    main(
        int(args[0]) if args else 12,
        args[1] if len(args) > 1 else 3.0,
        int(args[2]) if len(args) > 2 else 2,
    )
