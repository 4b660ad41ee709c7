"""A project with real checks: the demo's house-style test and a `[checks]` table."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from samoflow.cli.demo import DEMO_GITIGNORE, HOUSE_STYLE_TEST, demo_check_command


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout


def add_checks(
    repo: Path,
    commands: list[str] | None = None,
    *,
    max_rounds: int = 3,
    timeout: float = 300,
    delivery: str = "",
) -> None:
    """Commit the house-style test and write `.samoflow.toml` with `[checks]` (and delivery)."""
    (repo / "tests").mkdir(exist_ok=True)
    (repo / "tests" / "test_house_style.py").write_text(HOUSE_STYLE_TEST)
    (repo / "src").mkdir(exist_ok=True)
    (repo / "src" / "__init__.py").write_text("")
    (repo / ".gitignore").write_text(DEMO_GITIGNORE)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "house style")
    (repo / ".samoflow.toml").write_text(
        'main_repo = "."\nworktrees = ".samoflow/worktrees"\nsessions = ".samoflow/sessions"\n'
        f"[checks]\ncommands = {json.dumps(commands or [demo_check_command()])}\n"
        f"max_rounds = {max_rounds}\ntimeout_seconds = {timeout}\n{delivery}"
    )
