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

from samoflow.atomic import atomic_write_text
from samoflow.delivery.checks import check_environment
from samoflow.project import DeliveryConfig
from samoflow.session.verification import DeliveryRecord

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


class Proposal(BaseModel):
    """What a pull request proposes: its branches, title and body (written to `body_file`)."""

    model_config = ConfigDict(frozen=True)

    base: str
    branch: str
    title: str
    body: str
    body_file: Path


def push_and_propose(where: Path, config: DeliveryConfig, proposal: Proposal) -> DeliveryRecord:
    """Push `proposal.branch` from `where` (never forced), then open its pull request when a
    template applies; the record says how far it got, or git's (or the command's) words."""
    remote = config.push
    assert remote is not None
    record = DeliveryRecord(remote=remote, branch=proposal.branch)
    url = remote_url(where, remote)
    if url is None:
        return record.model_copy(update={"error": f"no git remote named {remote!r}"})
    pushed = push_branch(where, remote, proposal.branch)
    if not pushed.ok:
        return record.model_copy(update={"error": f"git push {remote} failed: {pushed.output}"})
    record = record.model_copy(update={"pushed": True})
    template = pull_request_template(config, url)
    if template is None:
        return record
    atomic_write_text(proposal.body_file, proposal.body)
    values = {
        "base": proposal.base,
        "branch": proposal.branch,
        "title": proposal.title,
        "body_file": str(proposal.body_file),
    }
    try:
        command = render(template, **values)
    except ValueError as error:
        return record.model_copy(update={"error": str(error)})
    pr_url, outcome = open_pull_request(command, where)
    if pr_url is None:
        return record.model_copy(update={"error": f"pull request failed: {outcome.output}"})
    return record.model_copy(update={"pull_request_url": pr_url})
