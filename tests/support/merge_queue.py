"""A project whose check is a real command, and member scenarios that break it or conflict.

The check (`sh check.sh`) runs every `use_*.py` with python: `lib.py` starts with `greet`;
member A renames it to `welcome` (and adds `shared.txt`), so a member that still calls
`greet` is green alone and red once A is merged; a member adding its own `shared.txt`
conflicts with A.
"""

from __future__ import annotations

import json
import subprocess
import tarfile
import tempfile
from pathlib import Path

from samoflow.project import write_config
from tests.support.convoys import full_scenario

CHECK = 'set -e\nfor f in use_*.py; do\n  [ -e "$f" ] || continue\n  python3 "$f"\ndone\n'
LIB = "def greet(name):\n    return 'hello ' + name\n"
RENAMED = "def welcome(name):\n    return 'hello ' + name\n"
USE_GREET = "from lib import greet\nassert greet('b') == 'hello b'\n"
USE_WELCOME = "from lib import welcome\nassert welcome('a') == 'hello a'\n"
USE_WELCOME_B = "from lib import welcome\nassert welcome('b') == 'hello b'\n"


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t.invalid", *args],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def checked_project(repo: Path, *, max_rounds: int = 3) -> Path:
    """`repo` with lib.py, check.sh and `[checks]` in `.samoflow.toml`, committed."""
    (repo / "lib.py").write_text(LIB)
    (repo / "check.sh").write_text(CHECK)
    config = write_config(repo)  # as `samoflow init`: `.samoflow/` stays out of git status
    with config.open("a", encoding="utf-8") as toml:
        toml.write(
            f'\n[checks]\ncommands = ["sh check.sh"]\ntimeout_seconds = 120\n'
            f"max_rounds = {max_rounds}\n"
        )
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "lib, check, checks config")
    return repo


def _toml_table(files: dict[str, str]) -> str:
    return "{ " + ", ".join(f"{json.dumps(k)} = {json.dumps(v)}" for k, v in files.items()) + " }"


def change(files: dict[str, str], fixup: str = "") -> str:
    """The built-in scenario; its first step writes and commits `files`; then `fixup`."""
    extra = f'write = {_toml_table(files)}\ncommit = "change ({{session}})"\n'
    return full_scenario(first_step_extra=extra) + fixup


TRIED = {"notes/fixup-{session}.md": "tried\n"}  # a commit that fixes nothing


def fixup_steps(*, rule: str | None, files: dict[str, str] | None = None) -> str:
    """On `merge_fixup`: git merge the integration branch (conflicts by `rule`; None: it
    ignores the instruction), write `files` (the fix, if any), commit, reach done again."""
    merge = f'merge_integration = "{rule}"\n' if rule else ""
    write = f"write = {_toml_table(files or TRIED)}\n"
    return (
        "\n[[on_merge_fixup]]\n"
        'summary = "answered the merge queue"\n'
        f"{merge}{write}"
        'commit = "fix-up after the merge queue ({session})"\n'
        'signal = { status = "continue", phase = "done", summary = "fixed up" }\n'
        "\n[[on_merge_fixup]]\n"
        'summary = "fix-up done"\n'
        'signal = { status = "done", summary = "fixed up and green" }\n'
    )


def member_a() -> str:
    """Renames greet to welcome (its callers too) and adds `shared.txt`."""
    return change({"lib.py": RENAMED, "use_a.py": USE_WELCOME, "shared.txt": "from a\n"})


def first_parent_merges(repo: Path, base: str, branch: str) -> list[str]:
    """The integration branch's own commits (each merge), oldest first."""
    return _git(repo, "rev-list", "--reverse", "--first-parent", f"{base}..{branch}").split()


def check_passes_at(repo: Path, commit: str) -> bool:
    """`sh check.sh` on the tree of `commit`, exported to a scratch folder."""
    with tempfile.TemporaryDirectory() as scratch:
        archive = Path(scratch) / "tree.tar"
        with archive.open("wb") as out:
            subprocess.run(["git", "archive", commit], cwd=repo, check=True, stdout=out)
        tree = Path(scratch) / "tree"
        with tarfile.open(archive) as tar:
            tar.extractall(tree, filter="data")
        return subprocess.run(["sh", "check.sh"], cwd=tree, capture_output=True).returncode == 0
