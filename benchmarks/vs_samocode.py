"""samoflow next to samocode's own loop, in one run, on the same independent contract agent.

Run: `SAMOCODE_DIR=/path/to/samocode .venv/bin/python -m benchmarks.vs_samocode [LOOPS [ROUNDS]]`.
The agent is a small Python program that speaks only the file contract: it finds the session
folder (samoflow: `SAMOFLOW_SESSION_DIR`; samocode: the `**Session path:**` line samocode puts
in `--append-system-prompt`), moves init -> investigation, continues until LOOPS iterations,
then signals `blocked` so both loops stop; it runs on the benchmark's own interpreter.
samocode's column is skipped, with a message, when SAMOCODE_DIR is not set. samoflow runs
on the embedded API; a warm-up session starts it first.
On a shared machine one run of each says little (another process's burst lands on one side):
ROUNDS (default 3) alternates the two loops that many times and compares the medians.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
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
    """The agent runs on this interpreter: `python3` on PATH may be a version manager's shim
    (pyenv's costs ~100 ms a start here), which would hide both loops' overhead behind it."""
    path = folder / "contract-agent"
    text = CONTRACT_AGENT.replace("#!/usr/bin/env python3", f"#!{sys.executable}", 1)
    path.write_text(text, encoding="utf-8")
    path.chmod(0o755)
    return path


def _project(folder: Path) -> Path:
    from samoflow.cli.demo import make_demo_project

    return make_demo_project(folder)


def samoflow_runner(folder: Path, agent: Path, loops: int) -> Callable[[str], tuple[float, int]]:
    """Starts the embedded API with a warm-up session; then each call measures one session."""
    from samoflow.cli.output import prefect_logs_to
    from samoflow.flows.session import run_session_flow  # what `samoflow run --local` runs
    from samoflow.project import load_config
    from samoflow.session.files import SessionFiles
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

    def run(root: Path) -> float:
        # As `samoflow run` does (without --verbose): Prefect's log to the session's log file.
        with prefect_logs_to(SessionFiles(root).orchestrator_log):
            started = time.perf_counter()
            run_session_flow(str(root))
            return time.perf_counter() - started

    def measure(name: str) -> tuple[float, int]:
        measured = session(name)
        wall = run(measured)
        return wall, len(iterations(read_history(measured / "_signal_history.jsonl")))

    run(session("warm-up"))  # starts the embedded API
    return measure


def run_samocode(samocode: Path, folder: Path, agent: Path, loops: int) -> tuple[float, int]:
    folder.mkdir(parents=True)
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


def _row(name: str, runs: list[tuple[float, int]]) -> tuple[str, float]:
    per_iteration = [wall / count * 1000 for wall, count in runs]
    median = statistics.median(per_iteration)
    each = ", ".join(f"{ms:.0f}" for ms in per_iteration)
    print(f"{name:<26} {runs[0][1]:>10} {median:>13.0f}   ({each})")
    return name, median


def main(loops: int = 20, rounds: int = 3) -> None:
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    folder = Path(tempfile.mkdtemp(prefix="samoflow-vs-samocode-"))
    agent = _agent(folder)
    samocode_dir = os.environ.get("SAMOCODE_DIR")
    if not samocode_dir:
        print("SAMOCODE_DIR is not set: the samocode column is skipped (fetch Yuvasee/samocode)")
    elif not (Path(samocode_dir) / "main.py").is_file():
        # Asked for, but not there: no half table, and no traceback from the first round.
        sys.exit(f"SAMOCODE_DIR={samocode_dir} holds no samocode checkout (no main.py): "
                 "clone Yuvasee/samocode there, or unset SAMOCODE_DIR to skip its column")
    samoflow = samoflow_runner(folder, agent, loops)
    samocode_runs: list[tuple[float, int]] = []
    samoflow_runs: list[tuple[float, int]] = []
    for round_ in range(rounds):  # alternated: a burst of load elsewhere hits both columns
        if samocode_dir:
            samocode_runs.append(
                run_samocode(Path(samocode_dir), folder / f"round-{round_}", agent, loops)
            )
        samoflow_runs.append(samoflow(f"measured-{round_}"))
    print(f"{'loop':<26} {'iterations':>10} {'ms/iteration':>13}   (each round)")
    rows = [_row("samocode (its own loop)", samocode_runs)] if samocode_runs else []
    rows.append(_row("samoflow (embedded API)", samoflow_runs))
    if len(rows) == 2:
        print(f"samoflow / samocode per iteration (medians of {rounds}): "
              f"{rows[1][1] / rows[0][1]:.2f}x")


if __name__ == "__main__":
    arguments = [int(value) for value in sys.argv[1:3]]
    main(*arguments)
