"""Delivery's git and pull-request commands: push a branch (never forced), open a PR.

Nothing here retries: a refused push or a failed PR command is reported with its own words.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from samoflow.delivery.checks import check_environment
from samoflow.project import DeliveryConfig

DELIVERY_TIMEOUT_SECONDS = 300.0
GH_TEMPLATE = "gh pr create --base {base} --head {branch} --title {title} --body-file {body_file}"
URL = re.compile(r"https?://\S+")


class CommandOutcome(BaseModel):
    model_config = ConfigDict(frozen=True)

    ok: bool
    output: str  # stdout and stderr, stripped: git's or the PR command's own message


def _run(argv: list[str], cwd: Path) -> CommandOutcome:
    # No terminal prompt: a push that needs credentials fails now instead of hanging.
    env = {**check_environment(), "GIT_TERMINAL_PROMPT": "0"}
    try:
        done = subprocess.run(
            argv,
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=DELIVERY_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return CommandOutcome(ok=False, output=f"timed out after {DELIVERY_TIMEOUT_SECONDS:.0f}s")
    output = "\n".join(part.strip() for part in (done.stdout, done.stderr) if part.strip())
    return CommandOutcome(ok=done.returncode == 0, output=output)


def remote_url(worktree: Path, remote: str) -> str | None:
    done = _run(["git", "remote", "get-url", remote], worktree)
    return done.output.splitlines()[0] if done.ok and done.output else None


def push_branch(worktree: Path, remote: str, branch: str) -> CommandOutcome:
    """`git push <remote> <branch>:<branch>`: a plain refspec, so never a force push."""
    return _run(["git", "push", remote, f"refs/heads/{branch}:refs/heads/{branch}"], worktree)


def pull_request_template(delivery: DeliveryConfig, url: str | None) -> str | None:
    """The configured template, else `gh pr create ...` for a GitHub remote with gh on PATH."""
    if delivery.pull_request is not None:
        return delivery.pull_request.strip() or None
    if url is not None and "github.com" in url and shutil.which("gh"):
        return GH_TEMPLATE
    return None


def render(template: str, **values: str) -> str:
    """The template with each value shell-quoted (a title with spaces stays one argument)."""
    try:
        return template.format(**{key: shlex.quote(value) for key, value in values.items()})
    except (KeyError, IndexError, ValueError) as error:
        raise ValueError(f"pull_request template {template!r}: unknown field {error}") from error


def open_pull_request(command: str, worktree: Path) -> tuple[str | None, CommandOutcome]:
    """Run the rendered command with the shell; the PR's URL is the last URL it printed."""
    outcome = _run(["/bin/sh", "-c", command], worktree)
    urls = URL.findall(outcome.output)
    return (urls[-1] if outcome.ok and urls else None), outcome
