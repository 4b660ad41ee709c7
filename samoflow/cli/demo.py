"""`samoflow demo`: a throwaway git project for the built-in scripted agent to work on."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import git

DEMO_README = "# demo project\n\nA throwaway repository that samoflow's scripted agent works on.\n"


def make_demo_project(parent: Path) -> Path:
    """A fresh repository with one commit on `main`, in a new timestamped folder."""
    root = parent / datetime.now(UTC).strftime("%Y%m%d-%H%M%S-%f") / "project"
    root.mkdir(parents=True)
    repo = git.Repo.init(root, initial_branch="main")
    (root / "README.md").write_text(DEMO_README, encoding="utf-8")
    (root / "src").mkdir()
    (root / "src" / "__init__.py").write_text("", encoding="utf-8")
    repo.index.add(["README.md", "src/__init__.py"])
    author = git.Actor("samoflow demo", "demo@samoflow.invalid")
    repo.index.commit("initial commit", author=author, committer=author)
    return root
