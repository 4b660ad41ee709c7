"""The scripted agent's answer to a merge-queue fix-up (`merge_fixup` inbox message).

A scenario's `on_merge_fixup` steps are played from the first when such a message arrives,
one per iteration (retried attempts replay the same step). A step with `merge_integration`
runs real git in the worktree: `git merge <the branch the message names>`, conflicts
resolved by its rule (`ours`, `theirs`, or `union`: `git merge-file --union` per file).
"""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from samoflow.agents.scenario import Scenario, Step
from samoflow.atomic import atomic_write_json
from samoflow.session import files

FIXUP_KIND = "merge_fixup"
STATE_FILE = "scripted-fixup.json"  # in the session's `_logs/`: where the sequence stands
_MERGE_LINE = re.compile(r"git merge (\S+)")


def _state_path(session: Path) -> Path:
    return session / files.LOGS / STATE_FILE


def _fixup_message(session: Path) -> dict[str, Any] | None:
    inbox = session / files.INBOX
    for path in sorted(inbox.glob("msg-*.json")) if inbox.is_dir() else []:
        message = json.loads(path.read_text(encoding="utf-8"))
        if message.get("kind") == FIXUP_KIND:
            return dict(message)
    return None


def fixup_step(scenario: Scenario, session: Path, iteration: int) -> Step | None:
    """The fix-up step for this iteration, or None when no fix-up is under way."""
    if not scenario.on_merge_fixup:
        return None
    state_path = _state_path(session)
    state = json.loads(state_path.read_text(encoding="utf-8")) if state_path.exists() else {}
    message = _fixup_message(session)
    if message is not None and message.get("id") != state.get("message"):
        found = _MERGE_LINE.search(str(message.get("text", "")))
        state = {
            "message": message.get("id"),
            "first_iteration": iteration,
            "branch": found.group(1) if found else None,
        }
        atomic_write_json(state_path, state)
    if not state:
        return None
    index = iteration - int(state["first_iteration"])
    return scenario.on_merge_fixup[index] if 0 <= index < len(scenario.on_merge_fixup) else None


def fixup_branch(session: Path) -> str:
    state_path = _state_path(session)
    state = json.loads(state_path.read_text(encoding="utf-8")) if state_path.exists() else {}
    branch = state.get("branch")
    if not branch:
        raise RuntimeError("no merge_fixup message named the branch to merge")
    return str(branch)


def merge_integration(working_dir: Path, branch: str, rule: str, identity: list[str]) -> None:
    """`git merge branch` in the worktree; every conflict resolved by `rule`, then committed."""
    strategy = ["-X", rule] if rule in ("ours", "theirs") else []
    merged = subprocess.run(
        ["git", *identity, "merge", "--no-edit", *strategy, branch],
        cwd=working_dir,
        capture_output=True,
        text=True,
    )
    if merged.returncode == 0:
        return
    conflicted = _git(working_dir, "diff", "--name-only", "--diff-filter=U").split()
    if not conflicted or rule != "union":
        raise RuntimeError(f"git merge {branch} failed: {merged.stdout}{merged.stderr}")
    for name in conflicted:
        _union(working_dir, name)
    _git(working_dir, *identity, "commit", "--no-edit", "-q")


def _union(working_dir: Path, name: str) -> None:
    """Both sides' lines of one conflicted file (`git merge-file --union`), staged."""
    with tempfile.TemporaryDirectory(prefix="samoflow-union-") as stages:
        parts = []
        for stage in ("2", "1", "3"):  # ours, base, theirs: merge-file's order
            part = Path(stages) / stage
            shown = subprocess.run(
                ["git", "show", f":{stage}:{name}"], cwd=working_dir, capture_output=True
            )
            part.write_bytes(shown.stdout if shown.returncode == 0 else b"")
            parts.append(str(part))
        union = subprocess.run(
            ["git", "merge-file", "--union", "-p", *parts], cwd=working_dir, capture_output=True
        )
        (working_dir / name).write_bytes(union.stdout)
    _git(working_dir, "add", "--", name)


def _git(working_dir: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=working_dir, check=True, capture_output=True, text=True
    ).stdout
