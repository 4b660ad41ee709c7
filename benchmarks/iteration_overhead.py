"""Orchestration overhead per iteration: a no-op shell agent, the real session flow.

Run: `make bench` (or `.venv/bin/python -m benchmarks.iteration_overhead [ITERATIONS]`).
The agent only writes the next signal; what remains of each iteration's wall time is
samoflow + Prefect (hook, task run, judge, history, artifacts). Uses whatever Prefect API
is configured (the embedded one by default; set PREFECT_API_URL for a served one).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

# Walks the phases; stays in implementation until the iteration named by $STAY_UNTIL.
NOOP_AGENT = r"""
case "$SAMOFLOW_PHASE" in
  init) s='{"status":"continue","phase":"investigation"}';;
  investigation) s='{"status":"continue","phase":"requirements"}';;
  requirements|planning) s='{"status":"waiting","for":"qa"}';;
  implementation) if [ "$SAMOFLOW_ITERATION" -lt "$STAY_UNTIL" ]; then s='{"status":"continue"}';
                  else s='{"status":"continue","phase":"testing"}'; fi;;
  testing) s='{"status":"continue","phase":"quality"}';;
  quality) s='{"status":"continue","phase":"done"}';;
  done) s='{"status":"done","summary":"no-op"}';;
esac
printf '%s' "$s" > "$SAMOFLOW_SESSION_DIR/_signal.json"
"""


def main(iterations: int = 60) -> None:
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from samoflow.cli.demo import make_demo_project
    from samoflow.flows.session import session_flow
    from samoflow.project import load_config
    from samoflow.session.history import iterations as iteration_entries
    from samoflow.session.history import read_history
    from samoflow.session.spec import AgentKind, AgentSpec
    from samoflow.session.store import create_session

    workdir = Path(tempfile.mkdtemp(prefix="samoflow-bench-"))
    script = workdir / "noop.sh"
    script.write_text(NOOP_AGENT)
    project = make_demo_project(workdir)
    agent = AgentSpec(
        kind=AgentKind.COMMAND, command=f"sh {script}", env={"STAY_UNTIL": str(iterations - 3)}
    )

    def new_session(name: str) -> Path:
        files = create_session(
            load_config(project),
            name=name,
            task="measure",
            dive=None,
            agent=agent,
            auto_approve_gates=True,
        )
        return files.root

    session_flow(str(new_session("warm-up")))  # the first run starts the embedded API
    started = time.perf_counter()
    measured = new_session("overhead")
    session_flow(str(measured))
    wall = time.perf_counter() - started
    done = iteration_entries(read_history(measured / "_signal_history.jsonl"))
    agent_seconds = sum(e.duration_seconds for e in done)
    count = len(done)
    print(f"iterations:                 {count}")
    print(f"wall time:                  {wall:.2f} s ({wall / count * 1000:.0f} ms per iteration)")
    print(
        f"agent processes:            {agent_seconds:.2f} s "
        f"({agent_seconds / count * 1000:.0f} ms per iteration)"
    )
    print(
        f"orchestration overhead:     {(wall - agent_seconds) / count * 1000:.0f} ms per iteration"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 60)
