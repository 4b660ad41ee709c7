"""The checks gate end to end: scripted agent, real git, real pytest checks, real Prefect API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from samoflow.flows.session import session_flow
from samoflow.inbox.messages import Message, MessageKind
from samoflow.session.files import SessionFiles
from samoflow.session.history import Outcome, read_history
from samoflow.session.state import Lifecycle
from tests.support.checks import add_checks, git
from tests.support.sessions import new_session

pytestmark = [pytest.mark.usefixtures("prefect_api"), pytest.mark.slow]


def _read_messages(files: SessionFiles) -> list[Message]:
    paths = sorted(files.inbox_read.glob("msg-*.json"))
    return [Message.model_validate_json(path.read_text()) for path in paths]


def _seen(files: SessionFiles) -> list[dict[str, object]]:
    lines = (files.logs / "scripted-seen.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def test_a_red_done_goes_back_to_testing_and_the_fix_ends_green(repo: Path) -> None:
    add_checks(repo)
    files = new_session(repo)
    report = session_flow(str(files.root))

    assert report.lifecycle is Lifecycle.DONE, report.reason
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
    worktree = repo / ".samoflow/worktrees/s1"
    assert "hello {name}!" in (worktree / "src/greeting_s1.py").read_text()
    assert git(worktree, "status", "--porcelain") == ""
    assert list(files.logs.glob("*-checks-round1-1-*.log"))
