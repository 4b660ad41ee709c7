"""The merge queue's wall for 8 members: merge, check on the integration worktree, record.

Run: `.venv/bin/python -m benchmarks.merge_queue [MEMBERS]`.
Each run makes a fresh demo project (`samoflow demo`'s), prepares a convoy of MEMBERS
sessions, commits one greeting module + its test on each member's branch, records each
session `done`, then times `merge_finished` (the queue as the convoy flow runs it, in a
flow, under the repository's Prefect concurrency limit) landing all of them one by one:
once with the demo's `[checks]` (`pytest -q` after every merge) and once without checks
(merged unverified). A third run makes the last member break the project's check, so its
merge is rolled back (update-ref) and it is sent back with a fix-up. Starts its own Prefect
server unless PREFECT_API_URL is set.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.convoy_speedup import start_server

GOOD = "def greet(name: str) -> str:\n    return f'hello {name}!'\n"
BAD = "def greet(name: str) -> str:\n    return f'hello {name}'\n"  # no "!": the check is red
TEST = "from src.greeting_{n} import greet\n\n\ndef test_greet():\n    assert greet('x')\n"


def plan_file(folder: Path, members: int) -> Path:
    lines = ['name = "bench"', f"concurrency = {members}", "notify_on_complete = false"]
    for i in range(members):
        lines += ["", "[[sessions]]", f'name = "m{i}"', f'task = "greeting {i}"']
    plan = folder / "plan.toml"
    plan.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return plan


def commit(worktree: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (worktree / name).parent.mkdir(parents=True, exist_ok=True)
        (worktree / name).write_text(text, encoding="utf-8")
    git = ["git", "-c", "user.name=b", "-c", "user.email=b@b.invalid"]
    subprocess.run([*git, "add", "-A"], cwd=worktree, check=True)
    subprocess.run([*git, "commit", "-qm", "greeting"], cwd=worktree, check=True)


def prepared(members: int, *, checks: bool, red_last: bool) -> Path:
    from samoflow.cli.demo import make_demo_project
    from samoflow.convoy.record import read_convoy, refresh_member, write_convoy
    from samoflow.convoy.setup import prepare_plan
    from samoflow.session.files import SessionFiles
    from samoflow.session.history import Outcome, append_entry, system_entry
    from samoflow.session.spec import read_spec

    folder = Path(tempfile.mkdtemp(prefix="samoflow-mergeq-"))
    project = make_demo_project(folder, checks=checks)
    path, record = prepare_plan(plan_file(folder, members), project, members)
    for index, member in enumerate(record.members):
        files = SessionFiles(Path(member.session_dir))
        body = BAD if red_last and index == members - 1 else GOOD
        n = member.name
        worktree = Path(read_spec(files.spec).working_dir)
        commit(worktree, {f"src/greeting_{n}.py": body, f"tests/test_{n}.py": TEST.format(n=n)})
        append_entry(files.history, system_entry(7, "done", outcome=Outcome.DONE))
        record = record.with_member(refresh_member(member))
    write_convoy(path, record)
    assert all(m.state.value == "done" for m in read_convoy(path).members)
    return path


def timed(path: Path) -> tuple[float, list[str]]:
    from prefect import flow

    from samoflow.flows.merge_queue import merge_finished

    @flow(name="bench-merge-queue")
    def queue() -> list[str]:
        record = merge_finished(path)
        return [f"{m.name}: {m.rounds[-1].describe()}" for m in record.members]

    started = time.perf_counter()
    outcomes = queue()
    return time.perf_counter() - started, outcomes


def main(members: int = 8) -> None:
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    server = None
    if "PREFECT_API_URL" not in os.environ:
        server = start_server(Path(tempfile.mkdtemp(prefix="samoflow-mergeq-prefect-")))
    try:
        timed(prepared(1, checks=False, red_last=False))  # warm-up: imports, the first flow run
        for label, checks, red in (
            ("no checks (unverified)", False, False),
            ("pytest -q after each merge", True, False),
            ("pytest -q, the last member red", True, True),
        ):
            wall, outcomes = timed(prepared(members, checks=checks, red_last=red))
            print(f"{members} members, {label}: {wall:.1f} s, {wall / members:.2f} s per member")
            print("   " + "; ".join(outcomes[-2:]))
    finally:
        from prefect.logging.handlers import APILogWorker

        APILogWorker.drain_all(timeout=30, at_exit=False)  # before the server goes away
        if server is not None:
            server.terminate()
            server.wait(30)


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:2]))
