"""The checks gate end to end: scripted agent, real git, real pytest checks, real Prefect API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client

from samoflow.delivery.status import verification_of
from samoflow.flows.session import session_flow
from samoflow.inbox.messages import Message, MessageKind
from samoflow.session.files import SessionFiles
from samoflow.session.history import Outcome, read_history
from samoflow.session.state import Lifecycle
from samoflow.tasks.checks import checks_key
from tests.support.checks import add_checks, git
from tests.support.convoys import use_slack
from tests.support.sessions import new_session
from tests.support.slack_capture import slack_capture

pytestmark = [pytest.mark.usefixtures("prefect_api"), pytest.mark.slow]


def _read_messages(files: SessionFiles) -> list[Message]:
    paths = sorted(files.inbox_read.glob("msg-*.json"))
    return [Message.model_validate_json(path.read_text()) for path in paths]


def _seen(files: SessionFiles) -> list[dict[str, object]]:
    lines = (files.logs / "scripted-seen.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def test_a_red_done_goes_back_to_testing_and_the_fix_ends_green(repo: Path) -> None:
    add_checks(repo)
    files = new_session(repo, name="fixer")
    report = session_flow(str(files.root))

    assert report.lifecycle is Lifecycle.DONE, report.reason
    assert verification_of(files).verified == "green after 1 red"
    with get_client(sync_client=True) as client:
        by_key = {a.key: a for a in client.read_latest_artifacts()}
    table = by_key[checks_key("fixer")].data
    rows = json.loads(table) if isinstance(table, str) else table
    assert [r["result"] for r in rows] == ["green"]
    records = [e.checks for e in read_history(files.history) if e.checks is not None]
    assert [r.passed for r in records] == [False, True, True]
    red = records[0]
    assert red.round == 1 and red.failed is not None and red.failed.exit_code == 1
    assert "wanted a final '!'" in red.failed.output_tail
    assert records[-1].reused  # the done signal came at the commit that was green already
    entries = [e for e in read_history(files.history) if e.checks is not None]
    assert entries[0].outcome is Outcome.CONTINUE and entries[0].next_phase == "testing"
    assert entries[-1].outcome is Outcome.DONE
    messages = _read_messages(files)
    failure = next(m for m in messages if m.kind is MessageKind.CHECK_FAILURE)
    assert "exit code 1" in failure.text and "pytest" in failure.text
    seen = _seen(files)
    fix = next(s for s in seen if s["inbox"])
    assert fix["phase"] == "testing" and "checks red" in str(fix["hook"]["checks_red"])  # type: ignore[index]
    worktree = repo / ".samoflow/worktrees/fixer"
    assert "hello {name}!" in (worktree / "src/greeting_fixer.py").read_text()
    assert git(worktree, "status", "--porcelain") == ""
    assert list(files.logs.glob("*-checks-round1-1-*.log"))


def _never_fixing_scenario() -> str:
    """The built-in steps up to testing, then `done` again and again, fixing nothing."""
    full = (Path(__file__).parents[2] / "samoflow/agents/scenarios/full.toml").read_text()
    steps = full.split("[[steps]]")[1:6]
    claim = (
        'summary = "Claimed done"\noverview = "update"\n'
        'signal = { status = "continue", phase = "done", summary = "all tests pass" }\n'
    )
    return 'name = "stubborn"\nrepeat_last = true\n' + "".join(
        f"[[steps]]{step}" for step in [*steps, "\n" + claim]
    )


def test_a_check_that_stays_red_blocks_after_max_rounds_naming_it(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_checks(repo, max_rounds=2)
    files = new_session(repo, _never_fixing_scenario())
    with slack_capture() as slack:
        use_slack(slack.url, monkeypatch)
        report = session_flow(str(files.root))
    blocked = [text for text in slack.texts() if "blocked" in text]
    assert len(blocked) == 1 and "still red after 2 rounds" in blocked[0]

    assert report.lifecycle is Lifecycle.BLOCKED
    assert report.reason is not None and "pytest" in report.reason
    assert "still red after 2 rounds" in report.reason and "wanted a final '!'" in report.reason
    records = [e.checks for e in read_history(files.history) if e.checks is not None]
    assert [(r.round, r.passed) for r in records] == [(1, False), (2, False)]
    assert read_history(files.history)[-1].needs == "checks"


def test_a_hanging_check_is_killed_at_its_timeout_and_counts_red(repo: Path) -> None:
    add_checks(repo, ["echo waiting for nothing; sleep 600"], max_rounds=1, timeout=2)
    files = new_session(repo, _never_fixing_scenario())
    report = session_flow(str(files.root))

    assert report.lifecycle is Lifecycle.BLOCKED
    assert report.reason is not None and "timed out" in report.reason
    record = next(e.checks for e in read_history(files.history) if e.checks is not None)
    assert record.failed is not None and record.failed.timed_out
    assert "waiting for nothing" in record.failed.output_tail


def test_uncommitted_work_is_a_red_round_commit_your_work(repo: Path) -> None:
    add_checks(repo, ["true"], max_rounds=1)
    scenario = _never_fixing_scenario().replace(
        'summary = "Claimed done"',
        'summary = "Claimed done"\nwrite = { "left-over.txt" = "not committed" }',
    )
    files = new_session(repo, scenario)
    report = session_flow(str(files.root))

    assert report.lifecycle is Lifecycle.BLOCKED
    assert report.reason is not None and "commit your work" in report.reason
    assert "left-over.txt" in report.reason
