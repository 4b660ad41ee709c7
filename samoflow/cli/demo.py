"""`samoflow demo`: a throwaway git project for the built-in scripted agent to work on."""

from __future__ import annotations

import json
import shlex
import sys
from datetime import UTC, datetime
from pathlib import Path

import git

DEMO_README = "# demo project\n\nA throwaway repository that samoflow's scripted agent works on.\n"
# The project's own test: the scripted agent's first greeting breaks it, the check says so,
# and the agent fixes it from the `check_failure` inbox message (README: verified delivery).
HOUSE_STYLE_TEST = '''"""The demo project's house style: greetings end with an exclamation mark."""

import importlib.util
from pathlib import Path


def test_every_greeting_ends_with_an_exclamation_mark():
    for path in sorted((Path(__file__).parents[1] / "src").glob("greeting_*.py")):
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        said = module.greet("x")
        assert said.endswith("!"), f"{path.name}: greet('x') says {said!r}, wanted a final '!'"
'''
DEMO_GITIGNORE = "__pycache__/\n.pytest_cache/\n/.samoflow/\n"


def demo_check_command() -> str:
    """`pytest -q` with the interpreter samoflow runs on (it has pytest in the dev install)."""
    return f"{shlex.quote(sys.executable)} -m pytest -q -p no:cacheprovider"


def _demo_config() -> str:
    return (
        'main_repo = "."\nworktrees = ".samoflow/worktrees"\nsessions = ".samoflow/sessions"\n\n'
        f"[checks]\ncommands = {json.dumps([demo_check_command()])}\ntimeout_seconds = 300\n"
        "max_rounds = 3\n"
    )


def make_demo_project(parent: Path, *, checks: bool = False) -> Path:
    """A fresh repository with one commit on `main`, in a new timestamped folder; with
    `checks`, a `[checks]` table running the project's own pytest test."""
    root = parent / datetime.now(UTC).strftime("%Y%m%d-%H%M%S-%f") / "project"
    root.mkdir(parents=True)
    repo = git.Repo.init(root, initial_branch="main")
    files = {"README.md": DEMO_README, "src/__init__.py": "", ".gitignore": DEMO_GITIGNORE}
    if checks:
        files |= {"tests/test_house_style.py": HOUSE_STYLE_TEST, ".samoflow.toml": _demo_config()}
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    repo.index.add(list(files))
    author = git.Actor("samoflow demo", "demo@samoflow.invalid")
    repo.index.commit("initial commit", author=author, committer=author)
    return root
