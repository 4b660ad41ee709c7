"""A convoy delivers once: its integration branch pushed, one pull request for the batch."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from samoflow.convoy.record import read_convoy
from samoflow.delivery.push import GH_TEMPLATE
from tests.integration.test_delivery import PR_URL, _bare_remote, _fake_gh
from tests.support.checks import add_checks, git
from tests.support.convoys import full_scenario, run_plan, use_slack, write_plan
from tests.support.slack_capture import slack_capture

pytestmark = [pytest.mark.usefixtures("prefect_api"), pytest.mark.slow]


def _remote_branches(remote: Path) -> list[str]:
    listed = git(remote, "for-each-ref", "--format=%(refname:short)", "refs/heads")
    return sorted(listed.split())


def test_a_convoy_pushes_its_integration_branch_and_opens_one_pull_request(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    remote = _bare_remote(repo)
    gh = _fake_gh(repo.parent)
    template = f"{gh} " + GH_TEMPLATE.removeprefix("gh ")
    add_checks(repo, delivery=f'[delivery]\npush = "origin"\npull_request = "{template}"\n')
    plan = write_plan(repo.parent, "ship", {"hello": full_scenario(), "bye": full_scenario()})
    with slack_capture() as slack:
        use_slack(slack.url, monkeypatch)
        record = run_plan(plan, repo)

    assert [m.state.value for m in record.members] == ["done", "done"]
    assert record.delivery is not None and record.delivery.pushed, record.delivery
    assert record.delivery.pull_request_url == PR_URL
    # the members are delivered with the convoy, never pushed one by one
    assert _remote_branches(remote) == ["samoflow/convoy/ship"]
    local = git(repo, "rev-parse", "samoflow/convoy/ship").strip()
    assert git(remote, "rev-parse", "samoflow/convoy/ship").strip() == local
    call = json.loads((repo.parent / "gh-call.json").read_text())
    assert call["args"][:6] == ["pr", "create", "--base", "main", "--head", "samoflow/convoy/ship"]
    assert "| hello | done | merged |" in call["body"] and "| bye | done | merged |" in call["body"]
    (notice,) = [text for text in slack.texts() if "convoy ship" in text]
    assert f"pull request {PR_URL}" in notice
    assert read_convoy(Path(record.sessions_root) / "_convoys" / "ship.json").delivery is not None


def test_a_refused_push_of_the_integration_branch_is_named_in_the_notice(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    remote = _bare_remote(repo, refuse=True)
    add_checks(repo, delivery='[delivery]\npush = "origin"\n')
    plan = write_plan(repo.parent, "nope", {"solo": full_scenario()})
    with slack_capture() as slack:
        use_slack(slack.url, monkeypatch)
        record = run_plan(plan, repo)

    assert record.delivery is not None and not record.delivery.pushed
    assert "pre-receive hook declined" in (record.delivery.error or "")
    assert _remote_branches(remote) == []
    (notice,) = [text for text in slack.texts() if "convoy nope" in text]
    assert "Delivery failed: git push origin failed" in notice
    assert subprocess.run(["git", "-C", str(repo), "status", "--porcelain"],
                          capture_output=True, text=True).stdout.strip() == "?? .samoflow.toml"
