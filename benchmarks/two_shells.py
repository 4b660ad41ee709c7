"""Two sessions started at once from two shells, with no `samoflow up` and no PREFECT_API_URL.

Run: `.venv/bin/python -m benchmarks.two_shells [shared|embedded] [ITERATIONS]`.
`embedded` is Prefect's temporary server per process (two servers on one SQLite file, what
samoflow did before); `shared` is samoflow's shared local server (the first command starts
it, the second reuses it). Each mode runs in a fresh HOME, so both start cold: the figure
includes starting the server(s). Prints the wall time until both sessions are done.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.iteration_overhead import NOOP_AGENT


def run_two(mode: str, iterations: int) -> float:
    from samoflow.cli.demo import make_demo_project

    workdir = Path(tempfile.mkdtemp(prefix=f"samoflow-two-shells-{mode}-"))
    script = workdir / "noop.sh"
    script.write_text(NOOP_AGENT)
    project = make_demo_project(workdir)
    (workdir / "home").mkdir()
    env = {
        key: value for key, value in os.environ.items() if not key.startswith("PREFECT_")
    }
    env |= {
        "HOME": str(workdir / "home"),
        "SAMOFLOW_HOME": str(workdir / "home" / ".samoflow"),
        "SAMOFLOW_PREFECT_API": mode,
        "SAMOFLOW_LOCAL_SERVER_IDLE_SECONDS": "5",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        # Prefect's 20 s for a temporary server is too short on a loaded 2-core machine.
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "300",
        "STAY_UNTIL": str(iterations - 3),
    }
    command = [sys.executable, "-m", "samoflow.cli", "run", "measure", "--repo", str(project),
               "--agent", "command", "--agent-command", f"sh {script}", "--auto-approve"]
    began = time.monotonic()
    shells = [
        subprocess.Popen([*command, "--session", f"shell-{n}"], env=env, cwd=workdir,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for n in (1, 2)
    ]
    outputs = [shell.communicate(timeout=1800)[0] for shell in shells]
    wall = time.monotonic() - began
    for shell, output in zip(shells, outputs, strict=True):
        if shell.returncode != 0:
            raise SystemExit(f"a session did not finish (exit {shell.returncode}):\n{output}")
    return wall


def main() -> None:
    mode = sys.argv[1] if len(sys.argv) > 1 else "shared"
    iterations = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    wall = run_two(mode, iterations)
    print(f"{mode}: two sessions of {iterations} iterations each, started together: {wall:.1f} s")


if __name__ == "__main__":
    main()
