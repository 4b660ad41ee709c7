"""The checks' cost per session: wall of the demo project's `pytest -q` check, and the gate.

Run: `.venv/bin/python -m benchmarks.checks_cost [RUNS]`. On the demo repository (the one
`make demo` makes, with its house-style test and one greeting the agent wrote), it times
`run_checks` (one `python -m pytest -q` process: what each round costs) and the ground-truth
git calls before it. A session pays this once per round: twice in the demo (red, then green).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _add_greeting(project: Path) -> None:
    (project / "src" / "greeting_bench.py").write_text(
        "def greet(name: str) -> str:\n    return f'hello {name}!'\n"
    )
    subprocess.run(["git", "add", "-A"], cwd=project, check=True)
    subprocess.run(
        ["git", "-c", "user.name=b", "-c", "user.email=b@x.invalid", "commit", "-qm", "greet"],
        cwd=project,
        check=True,
    )


def main(runs: int = 10) -> None:
    from samoflow.cli.demo import make_demo_project
    from samoflow.delivery.checks import run_checks
    from samoflow.delivery.ground_truth import verify_ground_truth
    from samoflow.project import load_config

    project = make_demo_project(Path(tempfile.mkdtemp(prefix="samoflow-checks-")), checks=True)
    checks = load_config(project).checks
    assert checks is not None
    _add_greeting(project)
    walls, truths = [], []
    for run in range(runs):
        started = time.monotonic()
        truth = verify_ground_truth(project, "main~1")
        truths.append(time.monotonic() - started)
        started = time.monotonic()
        report = run_checks(project, checks, project.parent / "logs", label=f"bench{run}")
        walls.append(time.monotonic() - started)
        assert report.passed and truth.problem is None, (report.summary(), truth.problem)
    print(f"check: {checks.commands[0]}")
    print(
        f"run_checks wall over {runs} runs: median {statistics.median(walls) * 1000:.0f} ms, "
        f"min {min(walls) * 1000:.0f} ms, max {max(walls) * 1000:.0f} ms"
    )
    print(f"ground truth (git status + rev-list): median {statistics.median(truths) * 1000:.0f} ms")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
