"""Context watch with the real claude binary: the scripted server reports growing usage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from samoflow.flows.session import session_flow
from samoflow.project import load_config
from samoflow.session.handoff import HandoffRecord
from samoflow.session.history import Outcome, iterations, read_history
from samoflow.session.spec import AgentKind, AgentSpec
from samoflow.session.state import Lifecycle
from samoflow.session.store import create_session
from samoflow.settings import get_settings
from tests.e2e.test_claude_session import _prompt_fact, model_turn
from tests.support.claude_cli import claude_env, find_claude_binary
from tests.support.fake_anthropic import FakeAnthropic, Reply, Usage, tool_reply

CLAUDE = find_claude_binary()
pytestmark = [
    pytest.mark.slow,
    pytest.mark.usefixtures("prefect_api"),
    pytest.mark.skipif(CLAUDE is None, reason="Claude Code CLI not installed (make setup)"),
]
TODOS = [
    {"content": "write greet.py", "status": "completed", "activeForm": "Writing greet.py"},
    {"content": "commit it", "status": "pending", "activeForm": "Committing"},
]
FULL = Usage(input_tokens=200, cache_read_input_tokens=150_000, cache_creation_input_tokens=900)


def growing_context(body: dict[str, Any], call: int) -> Reply:
    """Implementation, first agent: a todo list, then a turn whose context is 75% full."""
    first = body["messages"][0]["content"]
    prompt = first if isinstance(first, str) else " ".join(b.get("text", "") for b in first)
    turn = sum(1 for m in body["messages"] if m["role"] == "assistant")
    if _prompt_fact(body, "Phase") != "implementation" or "## Handoff from" in prompt:
        return model_turn(body, call)
    workdir = Path(_prompt_fact(body, r"Working directory \(your git worktree\)"))
    if turn == 0:
        return tool_reply("TodoWrite", {"todos": TODOS})
    if turn == 1:
        return tool_reply("Write", {"file_path": str(workdir / "greet.py"), "content": "hi"}, FULL)
    if turn == 2:
        # The CLI asks for its next turn as it prints the tool results, so this request may
        # race samoflow's kill. Its answer is a long command: the kill lands during it.
        return tool_reply("Bash", {"command": "sleep 90", "description": "wait"}, FULL)
    raise AssertionError("samoflow should have ended the agent after the full turn")


def test_samoflow_hands_off_itself_when_the_context_passes_the_fraction(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert CLAUDE is not None
    monkeypatch.setenv("SAMOFLOW_CONTEXT_HANDOFF_FRACTION", "0.5")
    get_settings.cache_clear()
    with FakeAnthropic(growing_context) as api:
        files = create_session(
            load_config(repo),
            name="ctx",
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
        assert not api.script_errors
    assert report.lifecycle is Lifecycle.DONE, report.reason
    assert report.context_peak_tokens == 151_100  # `samoflow status` shows it
    done = iterations(read_history(files.history))
    (handoff,) = [e for e in done if e.outcome is Outcome.HANDOFF]
    assert handoff.phase == "implementation" and handoff.attempts == 1
    assert handoff.context_peak_tokens == 151_100 and handoff.context_window_tokens == 200_000
    saved = HandoffRecord.model_validate_json(files.handoff.read_text())
    assert saved.state["todos"] == TODOS
    assert [Path(f).name for f in saved.state["files_touched"]] == ["greet.py"]
    assert saved.consumed_by_iteration == handoff.iteration + 1  # the fresh agent went on
    assert all((e.context_peak_tokens or 0) > 0 for e in done)
