"""The real Claude Code CLI runs a whole session through samoflow against a scripted API."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import git
import pytest

from samoflow.flows.session import session_flow
from samoflow.project import load_config
from samoflow.session.history import EntryKind, iterations, read_history, total_usage
from samoflow.session.spec import AgentKind, AgentSpec
from samoflow.session.state import Lifecycle
from samoflow.session.store import create_session
from tests.support.claude_cli import claude_env, find_claude_binary
from tests.support.fake_anthropic import (
    FakeAnthropic,
    Reply,
    Usage,
    error_reply,
    text_reply,
    tool_reply,
    write_file_reply,
)

CLAUDE = find_claude_binary()
pytestmark = [
    pytest.mark.slow,
    pytest.mark.usefixtures("prefect_api"),
    pytest.mark.skipif(CLAUDE is None, reason="Claude Code CLI not installed (make setup)"),
]

NEXT_SIGNAL = {
    "init": {"status": "continue", "phase": "investigation", "summary": "stored the task"},
    "investigation": {"status": "continue", "phase": "requirements", "summary": "read code"},
    "requirements": {"status": "waiting", "for": "qa", "summary": "one question"},
    "planning": {"status": "waiting", "for": "plan_approval", "summary": "plan ready"},
    "implementation": {"status": "continue", "phase": "testing", "summary": "implemented"},
    "testing": {"status": "continue", "phase": "quality", "summary": "tests pass"},
    "quality": {"status": "continue", "phase": "done", "summary": "clean"},
    "done": {"status": "done", "summary": "greeting shipped by claude"},
}
# Sonnet 4.5 list prices per token: what Claude Code bills the reported tokens at.
PRICE = {"input": 3e-6, "output": 15e-6, "cache_write": 3.75e-6, "cache_read": 0.3e-6}


def _prompt_fact(body: dict[str, Any], name: str) -> str:
    first = body["messages"][0]["content"]
    text = first if isinstance(first, str) else " ".join(b.get("text", "") for b in first)
    match = re.search(rf"^- {name}: (\S+)", text, re.MULTILINE)
    assert match, f"{name} not in the prompt"
    return match.group(1)


def model_turn(body: dict[str, Any], _call: int) -> Reply:
    """The scripted model: per phase, a few tool calls that do the work, then the signal."""
    session = Path(_prompt_fact(body, "Session folder"))
    workdir = Path(_prompt_fact(body, r"Working directory \(your git worktree\)"))
    phase = _prompt_fact(body, "Phase")
    turn = sum(1 for m in body["messages"] if m["role"] == "assistant")
    usage = Usage(
        input_tokens=100 + turn,
        output_tokens=20 + len(phase),
        cache_read_input_tokens=1000 * turn,
        cache_creation_input_tokens=50,
    )
    actions: list[Reply] = []
    if phase == "init":
        overview = "# Session: claude\n\n## Task\ngreet\n\n## Status\nPhase: init\nIteration: 1\n"
        actions.append(write_file_reply(session / "_overview.md", overview, usage))
    if phase == "implementation":
        actions.append(write_file_reply(workdir / "greet.py", "print('hi')\n", usage))
        commit = "git add -A && git -c user.name=c -c user.email=c@x commit -qm 'claude: greet'"
        actions.append(tool_reply("Bash", {"command": commit, "description": "commit"}, usage))
    actions.append(
        write_file_reply(session / "_signal.json", json.dumps(NEXT_SIGNAL[phase]), usage)
    )
    actions.append(text_reply("done", usage))
    return actions[turn]


def test_claude_runs_a_session_to_done_and_its_cost_is_recorded(repo: Path, tmp_path: Path) -> None:
    assert CLAUDE is not None
    with FakeAnthropic(model_turn) as api:
        files = create_session(
            load_config(repo),
            name="claude-session",
            task="add a greeting",
            dive=None,
            agent=AgentSpec(
                kind=AgentKind.CLAUDE,
                command=str(CLAUDE),
                model="claude-sonnet-4-5",
                max_turns=10,
                timeout_seconds=120,
                env=claude_env(api.base_url, tmp_path / "claude-home"),
            ),
            auto_approve_gates=True,
        )
        report = session_flow(str(files.root))
        served = api.total_usage("main")
        assert not api.script_errors

    assert report.lifecycle is Lifecycle.DONE, report.reason
    done = iterations(read_history(files.history))
    assert len(done) == 8 and all(e.attempts == 1 for e in done)
    recorded = total_usage(done)
    assert recorded.input_tokens == served.input_tokens
    assert recorded.output_tokens == served.output_tokens
    assert recorded.cache_read_input_tokens == served.cache_read_input_tokens
    assert recorded.cache_creation_input_tokens == served.cache_creation_input_tokens
    expected_cost = (
        served.input_tokens * PRICE["input"]
        + served.output_tokens * PRICE["output"]
        + served.cache_creation_input_tokens * PRICE["cache_write"]
        + served.cache_read_input_tokens * PRICE["cache_read"]
    )
    assert recorded.cost_usd == pytest.approx(expected_cost, rel=1e-6)
    assert report.usage.cost_usd == pytest.approx(expected_cost, rel=1e-6)
    log = files.iteration_log(1, 1, "init").read_text()
    assert '"type":"result"' in log  # the stream-json went to the iteration log
    commits = [
        c.message.strip() for c in git.Repo(repo).iter_commits("main..samoflow/claude-session")
    ]
    assert commits == ["claude: greet"]


def test_a_429_from_the_api_makes_the_session_wait_then_finish(repo: Path, tmp_path: Path) -> None:
    assert CLAUDE is not None
    limited_once = {"done": False}

    def script(body: dict[str, Any], call: int) -> Reply:
        if _prompt_fact(body, "Phase") == "investigation" and not limited_once["done"]:
            limited_once["done"] = True
            return error_reply(429, retry_after=2, message="rate limited, retry after 2s")
        return model_turn(body, call)

    with FakeAnthropic(script) as api:
        env = {**claude_env(api.base_url, tmp_path / "claude-home"), "CLAUDE_CODE_MAX_RETRIES": "0"}
        files = create_session(
            load_config(repo),
            name="claude-limited",
            task="add a greeting",
            dive=None,
            agent=AgentSpec(
                kind=AgentKind.CLAUDE,
                command=str(CLAUDE),
                model="claude-sonnet-4-5",
                max_turns=10,
                timeout_seconds=120,
                env=env,
            ),
            auto_approve_gates=True,
        )
        report = session_flow(str(files.root))
        served = api.total_usage("main")

    assert report.lifecycle is Lifecycle.DONE, report.reason
    entries = read_history(files.history)
    waits = [e for e in entries if e.kind is EntryKind.SYSTEM and e.needs == "rate_limit"]
    assert len(waits) == 1 and "waiting 2." in (waits[0].reason or "")
    done = iterations(entries)
    assert [e.iteration for e in done] == list(range(1, 9))
    assert [e.attempts for e in done] == [1, 2, 1, 1, 1, 1, 1, 1]
    assert total_usage(done).input_tokens == served.input_tokens  # the 429 cost nothing
