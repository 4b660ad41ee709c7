"""Delivery end to end: green checks, a push to a real bare remote, a PR command that runs."""

from __future__ import annotations

import json
import stat
import subprocess
from pathlib import Path

import pytest

from samoflow.delivery.push import GH_TEMPLATE
from samoflow.flows.session import session_flow
from samoflow.session.history import Outcome, read_history
from samoflow.session.state import Lifecycle
from tests.support.checks import add_checks, git
from tests.support.convoys import use_slack
from tests.support.sessions import new_session
from tests.support.slack_capture import slack_capture

pytestmark = [pytest.mark.usefixtures("prefect_api"), pytest.mark.slow]

PR_URL = "https://git.example.invalid/acme/project/pull/7"


def _bare_remote(repo: Path, refuse: bool = False) -> Path:
    remote = repo.parent / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    if refuse:
        hook = remote / "hooks" / "pre-receive"
        hook.write_text("#!/bin/sh\necho 'refusing: this remote is read-only' >&2\nexit 1\n")
        hook.chmod(hook.stat().st_mode | stat.S_IEXEC)
    git(repo, "remote", "add", "origin", str(remote))
    return remote


def _fake_gh(folder: Path) -> Path:
    """Stands in for `gh`: keeps its arguments and the body file, prints a PR URL."""
    script = folder / "fake-gh"
    script.write_text(
        "#!/usr/bin/env python3\nimport json, pathlib, sys\n"
        "args = sys.argv[1:]\n"
        "body = pathlib.Path(args[args.index('--body-file') + 1]).read_text()\n"
        f"pathlib.Path({str(folder / 'gh-call.json')!r}).write_text("
        "json.dumps({'args': args, 'body': body}))\n"
        f"print('Creating pull request...')\nprint({PR_URL!r})\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script


def test_green_work_is_pushed_and_proposed_with_its_summary_checks_and_cost(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    remote = _bare_remote(repo)
    gh = _fake_gh(repo.parent)
    template = f"{gh} " + GH_TEMPLATE.removeprefix("gh ")
    add_checks(repo, delivery=f'[delivery]\npush = "origin"\npull_request = "{template}"\n')
    files = new_session(repo)
    with slack_capture() as slack:
        use_slack(slack.url, monkeypatch)
        report = session_flow(str(files.root))

    assert report.lifecycle is Lifecycle.DONE, report.reason
    local = git(repo, "rev-parse", "samoflow/s1").strip()
    assert git(remote, "rev-parse", "samoflow/s1").strip() == local
    call = json.loads((repo.parent / "gh-call.json").read_text())
    assert call["args"] == [
        "pr", "create", "--base", "main", "--head", "samoflow/s1",
        "--title", "add a greeting", "--body-file", str(files.pull_request_body),
    ]
    body = call["body"]
    assert "greeting added and tested" in body and "checks green" in body
    assert "after 1 red round(s)" in body and "$0.0000" in body
    delivery = read_history(files.history)[-1].delivery
    assert delivery is not None and delivery.pushed and delivery.pull_request_url == PR_URL
    assert any(PR_URL in text for text in slack.texts())


def test_a_refused_push_blocks_on_delivery_with_gits_message(repo: Path) -> None:
    remote = _bare_remote(repo, refuse=True)
    add_checks(repo, ["true"], delivery='[delivery]\npush = "origin"\npull_request = ""\n')
    files = new_session(repo)
    report = session_flow(str(files.root))

    assert report.lifecycle is Lifecycle.BLOCKED
    assert report.reason is not None and report.reason.startswith("delivery: git push origin")
    assert "refusing: this remote is read-only" in report.reason
    assert "pre-receive hook declined" in report.reason
    last = read_history(files.history)[-1]
    assert last.outcome is Outcome.BLOCKED and last.needs == "delivery"
    assert last.delivery is not None and not last.delivery.pushed
    assert git(remote, "branch", "--list").strip() == ""  # nothing landed, nothing forced
