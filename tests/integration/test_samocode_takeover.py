"""Take-over: a session folder in samocode's exact format, carried on to done by
`samoflow run --config .samocode --session NAME` (real git, real Prefect, the scripted agent)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from samoflow.project import load_config
from samoflow.session.history import EntryKind, read_history
from samoflow.session.spec import read_spec

NAME = "26-01-21-greeting"
# samocode's init-agent template, as its init agent writes it (then the agents update it).
OVERVIEW = """# Session: greeting
Started: 01-21 10:00
Working Dir: {worktree}

## Task
Add a greeting function with a test

## Status
Phase: {phase}
Iteration: {iteration}
Total Iterations: {total}
Blocked: {blocked}
Last Action: {last}
Next: {next}

## Flow Log
- [001 @ 01-21 10:00] Session initialized
- [002 @ 01-21 10:05] Investigation done -> 01-21-10:05-dive-greeting.md

## Files
- 01-21-10:05-dive-greeting.md
"""


def samocode_row(iteration: int, phase: str, status: str, **fields: str) -> str:
    """A row exactly as samocode's record_signal writes it (json.dumps, its key order)."""
    row = {
        "timestamp": f"2026-01-21 10:{iteration:02d}:00",
        "iteration": iteration,
        "phase": phase,
        "status": status,
        "summary": fields.get("summary"),
        "reason": fields.get("reason"),
        "needs": fields.get("needs"),
        "for": fields.get("for"),
    }
    return json.dumps(row) + "\n"


# The rows of a samocode session: the requirements Q&A answered (the process restarted, so
# `iteration` starts at 1 again), the plan written and waiting for approval.
AT_GATE = (
    samocode_row(1, "investigation", "continue", summary="Session initialized")
    + samocode_row(2, "requirements", "continue", summary="investigated")
    + samocode_row(3, "requirements", "waiting", **{"for": "qa_answers"})
    + samocode_row(1, "planning", "waiting", **{"for": "qa_answers"})
    + samocode_row(2, "planning", "waiting", **{"for": "plan_approval"})
)
# ... and one where the human approved the plan and implementation already ran once.
IN_IMPLEMENTATION = AT_GATE + samocode_row(1, "implementation", "continue", summary="step 1")


def scenario(first_step: int) -> str:
    """Steps before `first_step` were samocode's: if samoflow ran one again, it would block."""
    redo = '[[steps]]\nsignal = { status = "blocked", reason = "samoflow repeated a step" }\n'
    work = [
        ("implementation", "src/greeting.py", "def greet(n):\n    return f'hi {n}'\n", "testing"),
        ("testing", "tests/test_greeting.py", "def test_greet():\n    pass\n", "quality"),
    ]
    steps = redo * (first_step - 1)
    for phase, path, content, next_phase in work:
        steps += (
            f'[[steps]]\nsummary = "{phase} by samoflow"\noverview = "update"\n'
            f"write = {{ {json.dumps(path)} = {json.dumps(content)} }}\n"
            f'commit = "{phase}: {path}"\n'
            f'signal = {{ status = "continue", phase = "{next_phase}" }}\n'
        )
    steps += '[[steps]]\noverview = "update"\nsignal = { status = "continue", phase = "done" }\n'
    steps += '[[steps]]\noverview = "update"\nsignal = { status = "done", summary = "greeted" }\n'
    return steps


def samocode_project(root: Path, repo: Path, phase: str, rows: str) -> Path:
    sessions, worktrees = root / "sessions", root / "worktrees"
    sessions.mkdir()
    worktrees.mkdir()
    # samocode's init agent made the worktree and its branch (the name without the date).
    worktree = worktrees / NAME
    subprocess.run(
        ["git", "worktree", "add", "-q", "-b", "greeting", str(worktree), "main"],
        cwd=repo,
        check=True,
    )
    folder = sessions / NAME
    folder.mkdir()
    waiting = rows.rstrip("\n").endswith('"for": "plan_approval"}')
    (folder / "_overview.md").write_text(
        OVERVIEW.format(
            worktree=worktree,
            phase=phase,
            iteration=rows.count("\n"),
            total=rows.count("\n") - 1,
            blocked="waiting" if waiting else "no",
            last="Plan created" if waiting else "Implemented step 1",
            next="Await approval" if waiting else "Step 2",
        ),
        encoding="utf-8",
    )
    (folder / "_signal_history.jsonl").write_text(rows, encoding="utf-8")
    (folder / "_signal.json").write_text("{}")
    config = repo / ".samocode"
    config.write_text(
        f"# samocode project config\nMAIN_REPO={repo}\nWORKTREES={worktrees}\nSESSIONS={sessions}\n"
    )
    return config


def samocode_extract_phase(text: str) -> str | None:
    """samocode's rule for the phase: the first `Phase:` line anywhere in the overview."""
    match = re.search(r"^Phase:\s*(.+)$", text, re.MULTILINE)
    return match.group(1).strip() if match else None


@pytest.mark.usefixtures("prefect_api")
@pytest.mark.parametrize(
    ("phase", "rows", "first_new"),
    [("planning", AT_GATE, 6), ("implementation", IN_IMPLEMENTATION, 7)],
    ids=["at-plan-gate", "in-implementation"],
)
def test_samoflow_carries_a_samocode_session_to_done(
    repo: Path, tmp_path: Path, phase: str, rows: str, first_new: int
) -> None:
    config = samocode_project(tmp_path, repo, phase, rows)
    plan = tmp_path / "scenario.toml"
    plan.write_text(scenario(first_new), encoding="utf-8")
    command = [sys.executable, "-m", "samoflow.cli", "run", "--config", str(config)]
    options = ["--session", "greeting", "--agent", "scripted", "--scenario", str(plan),
               "--auto-approve", "--local"]
    result = subprocess.run(
        [*command, *options],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert f"took over samocode session {NAME}" in result.stdout

    folder = tmp_path / "sessions" / NAME
    history = (folder / "_signal_history.jsonl").read_text(encoding="utf-8")
    assert history.startswith(rows)  # samocode's rows untouched, byte for byte
    new = read_history(folder / "_signal_history.jsonl")[rows.count("\n") :]
    ran = [(e.iteration, e.phase) for e in new if e.kind is EntryKind.ITERATION]
    assert ran == [
        (first_new, "implementation"),
        (first_new + 1, "testing"),
        (first_new + 2, "quality"),
        (first_new + 3, "done"),
    ]  # numbering continued; init and the earlier phases not repeated
    assert new[-1].outcome == "done"
    if phase == "planning":  # samocode's waiting gate became samoflow's, passed by policy
        assert new[0].kind is EntryKind.ANSWER and new[0].next_phase == "implementation"

    overview = (folder / "_overview.md").read_text(encoding="utf-8")
    assert samocode_extract_phase(overview) == "done"  # samocode would read the right phase
    assert "## Task\nAdd a greeting function with a test\n" in overview
    spec = read_spec(folder / "_session.json")
    assert spec.taken_over_from == "samocode" and spec.branch == "greeting"
    assert spec.task == "Add a greeting function with a test"
    log = subprocess.run(
        ["git", "log", "--format=%s", "main..greeting"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\n")
    assert "implementation: src/greeting.py" in log and "testing: tests/test_greeting.py" in log


def samoflow_cli(*args: str, home: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **({"HOME": str(home)} if home else {}), "COLUMNS": "300"}
    return subprocess.run(
        [sys.executable, "-m", "samoflow.cli", *args],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )


def test_init_from_samocode_writes_the_same_folders(repo: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "sess").mkdir(parents=True)
    (home / "wt").mkdir()
    config = repo / ".samocode"
    config.write_text(f"# paths\nMAIN_REPO={repo}\nWORKTREES=~/wt/\nSESSIONS=~/sess\n")
    result = samoflow_cli("init", "--from-samocode", str(config), home=home)
    assert result.returncode == 0, result.stdout + result.stderr
    loaded = load_config(repo)
    assert (loaded.main_repo, loaded.worktrees, loaded.sessions) == (
        repo.resolve(),
        (home / "wt").resolve(),
        (home / "sess").resolve(),
    )


def test_a_refused_samocode_config_prints_samocodes_message(repo: Path, tmp_path: Path) -> None:
    config = repo / ".samocode"
    config.write_text(f"MAIN_REPO={repo}\n")
    result = samoflow_cli("run", "--config", str(config), "--session", "x")
    assert result.returncode == 2
    assert f"Missing required fields in {config.resolve()}: SESSIONS, WORKTREES" in result.stdout
    config.write_text(f"MAIN_REPO={repo}\nWORKTREES={tmp_path}/nowt\nSESSIONS={tmp_path}\n")
    result = samoflow_cli("run", "--config", str(config), "--session", "x")
    assert result.returncode == 2
    assert "Configuration errors:" in result.stdout
    assert f"  - WORKTREES does not exist: {tmp_path}/nowt" in result.stdout
    absent = str(tmp_path / "none" / ".samocode")
    missing = samoflow_cli("run", "--config", absent, "--session", "x")
    assert "Config file not found:" in missing.stdout and missing.returncode == 2
    no_session = samoflow_cli("run", "--config", str(config))
    assert no_session.returncode == 2 and "--config needs --session" in no_session.stdout
    assert not any(tmp_path.glob("*-x"))  # nothing half-made
