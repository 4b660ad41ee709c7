"""samoflow next to samocode's own loop, in one run, on the same independent contract agent.

Run: `SAMOCODE_DIR=/path/to/samocode .venv/bin/python -m benchmarks.vs_samocode [LOOPS]`.
The agent is a small Python program that speaks only the file contract: it finds the session
folder (samoflow: `SAMOFLOW_SESSION_DIR`; samocode: the `**Session path:**` line samocode puts
in `--append-system-prompt`), moves init -> investigation, continues until LOOPS iterations,
then signals `blocked` so both loops stop. samocode's column is skipped, with a message, when
SAMOCODE_DIR is not set. samoflow runs on the embedded API; a warm-up session starts it first.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CONTRACT_AGENT = r'''#!/usr/bin/env python3
import json, os, re, sys
from pathlib import Path

def session_dir():
    if os.environ.get("SAMOFLOW_SESSION_DIR"):
        return Path(os.environ["SAMOFLOW_SESSION_DIR"])
    match = re.search(r"\*\*Session path:\*\* (.+)", " ".join(sys.argv))
    return Path(match.group(1).strip().split(" **")[0])

session = session_dir()
session.mkdir(parents=True, exist_ok=True)
overview = session / "_overview.md"
if not overview.exists():
    overview.write_text("# bench\n\n## Status\nPhase: init\nIteration: 1\nTotal Iterations: 0\n")
text = overview.read_text()
phase = (re.search(r"^Phase: *(\w+)", text, re.M) or [None, "init"])[1]
counter = session / "bench-count"
count = int(counter.read_text()) + 1 if counter.exists() else 1
counter.write_text(str(count))
if phase == "init":
    overview.write_text(re.sub(r"^Phase: *\w+", "Phase: investigation", text, flags=re.M))
    signal = {"status": "continue", "phase": "investigation"}
elif count < int(os.environ.get("BENCH_LOOPS", "20")):
    signal = {"status": "continue"}
else:
    signal = {"status": "blocked", "reason": "benchmark finished", "needs": "nothing"}
(session / "_signal.json").write_text(json.dumps(signal))
'''


def _agent(folder: Path) -> Path:
    path = folder / "contract-agent"
    path.write_text(CONTRACT_AGENT, encoding="utf-8")
    path.chmod(0o755)
    return path


def _project(folder: Path) -> Path:
    from samoflow.cli.demo import make_demo_project

    return make_demo_project(folder)


def run_samoflow(folder: Path, agent: Path, loops: int) -> tuple[float, int]:
    from samoflow.flows.session import session_flow
    from samoflow.project import load_config
    from samoflow.session.history import iterations, read_history
    from samoflow.session.spec import AgentKind, AgentSpec
    from samoflow.session.store import create_session

    project = _project(folder / "samoflow")
    spec = AgentSpec(kind=AgentKind.COMMAND, command=str(agent), env={"BENCH_LOOPS": str(loops)})

    def session(name: str) -> Path:
        files = create_session(
            load_config(project), name=name, task="measure", dive=None, agent=spec
        )
        return files.root

    session_flow(str(session("warm-up")))  # starts the embedded API
    measured = session("measured")
    started = time.perf_counter()
    session_flow(str(measured))
    wall = time.perf_counter() - started
    return wall, len(iterations(read_history(measured / "_signal_history.jsonl")))


def run_samocode(samocode: Path, folder: Path, agent: Path, loops: int) -> tuple[float, int]:
    project = _project(folder / "samocode")
    worktrees, sessions = folder / "sc-worktrees", folder / "sc-sessions"
    worktrees.mkdir()
    sessions.mkdir()
    config = project / ".samocode"
    config.write_text(f"MAIN_REPO={project}\nWORKTREES={worktrees}\nSESSIONS={sessions}\n")
    env = {**os.environ, "CLAUDE_PATH": str(agent), "BENCH_LOOPS": str(loops)}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, str(samocode / "main.py"), "--config", str(config), "--session", "bench"],
        cwd=samocode, env=env, capture_output=True, text=True, timeout=600,
    )
    wall = time.perf_counter() - started
    counters = list(sessions.glob("*bench/bench-count"))
    if done.returncode not in (0, 1) or not counters:
        raise RuntimeError(f"samocode did not run: {done.stdout[-2000:]}{done.stderr[-2000:]}")
    return wall, int(counters[0].read_text())


def main(loops: int = 20) -> None:
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    folder = Path(tempfile.mkdtemp(prefix="samoflow-vs-samocode-"))
    agent = _agent(folder)
    rows = []
    samocode_dir = os.environ.get("SAMOCODE_DIR")
    if samocode_dir:
        wall, count = run_samocode(Path(samocode_dir), folder, agent, loops)
        rows.append(("samocode (its own loop)", wall, count))
    else:
        print("SAMOCODE_DIR is not set: the samocode column is skipped (fetch Yuvasee/samocode)")
    wall, count = run_samoflow(folder, agent, loops)
    rows.append(("samoflow (embedded API)", wall, count))
    print(f"{'loop':<26} {'iterations':>10} {'wall s':>8} {'ms/iteration':>13}")
    for name, seconds, count in rows:
        print(f"{name:<26} {count:>10} {seconds:>8.2f} {seconds / count * 1000:>13.0f}")
    if len(rows) == 2:
        ratio = (rows[1][1] / rows[1][2]) / (rows[0][1] / rows[0][2])
        print(f"samoflow / samocode per iteration: {ratio:.2f}x")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
