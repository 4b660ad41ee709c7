"""The command line: clear errors with exit code 2, and a real run through `samoflow run`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


def samoflow(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "samoflow.cli", *args],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=cwd,
    )


@pytest.mark.parametrize("name", ["../x", "/tmp/abs", "has space", "ｓession", "a/b"])
def test_hostile_session_names_exit_2(repo: Path, name: str) -> None:
    result = samoflow("run", "task", "--session", name, "--repo", str(repo))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "error:" in result.stdout
    assert not (repo / ".samoflow" / "sessions").exists() or not any(
        (repo / ".samoflow" / "sessions").iterdir()
    )


def test_a_path_that_is_not_a_repository_exits_2(tmp_path: Path) -> None:
    result = samoflow("run", "task", "--repo", str(tmp_path))
    assert result.returncode == 2 and "not a git repository" in result.stdout


def test_an_unknown_session_exits_2(repo: Path) -> None:
    result = samoflow("answer", "nobody", "--text", "x", "--repo", str(repo))
    assert result.returncode == 2 and "unknown session 'nobody'" in result.stdout


def test_an_empty_task_exits_2(repo: Path) -> None:
    result = samoflow("run", "  ", "--session", "empty", "--repo", str(repo))
    assert result.returncode == 2 and "task is empty" in result.stdout


def test_init_writes_the_config_and_keeps_git_status_clean(repo: Path) -> None:
    assert samoflow("init", "--repo", str(repo)).returncode == 0
    assert (repo / ".samoflow.toml").exists()
    status = subprocess.run(
        ["git", "status", "--porcelain"], cwd=repo, capture_output=True, text=True
    )
    assert status.stdout.strip() == "?? .samoflow.toml"


@pytest.mark.usefixtures("prefect_api")
def test_run_then_status_shows_the_finished_session(repo: Path) -> None:
    result = samoflow(
        "run", "Add a greeting!", "--repo", str(repo), "--auto-approve", "--agent", "scripted"
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "add-a-greeting: done" in result.stdout
    listed = json.loads(samoflow("status", "--json", "--repo", str(repo)).stdout)
    assert [(r["session"], r["lifecycle"], r["iterations"]) for r in listed] == [
        ("add-a-greeting", "done", 8)
    ]
