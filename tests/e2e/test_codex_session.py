"""The real codex binary runs a whole session through samoflow against a scripted API."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest

from samoflow.flows.session import session_flow
from samoflow.project import load_config
from samoflow.session.history import iterations, read_history, total_usage
from samoflow.session.spec import AgentKind, AgentSpec
from samoflow.session.state import Lifecycle
from samoflow.session.store import create_session
from tests.e2e.test_claude_session import NEXT_SIGNAL
from tests.support.fake_openai import CodexReply, FakeOpenAI, prompt_text, tool_outputs

ROOT = Path(__file__).resolve().parents[2]
CODEX = ROOT / "node_modules" / ".bin" / "codex"
pytestmark = [
    pytest.mark.slow,
    pytest.mark.usefixtures("prefect_api"),
    pytest.mark.skipif(not CODEX.exists(), reason="codex CLI not installed (make setup)"),
]


def _fact(text: str, name: str) -> str:
    match = re.search(rf"^- {name}: (\S+)", text, re.MULTILINE)
    assert match, f"{name} not in the prompt"
    return match.group(1)


def codex_model(body: dict[str, Any], _call: int) -> CodexReply:
    """Per iteration: one exec_command that writes the phase's signal, then a last word."""
    text = prompt_text(body)
    if tool_outputs(body) > 0:
        return CodexReply(text="done", input_tokens=1500, cached_tokens=1200, output_tokens=5)
    signal = Path(_fact(text, "Session folder")) / "_signal.json"
    payload = json.dumps(NEXT_SIGNAL[_fact(text, "Phase")])
    return CodexReply(command=f"printf '%s' {shlex.quote(payload)} > {shlex.quote(str(signal))}")


def test_codex_runs_a_session_to_done_and_its_usage_is_recorded(repo: Path, tmp_path: Path) -> None:
    with FakeOpenAI(codex_model) as api:
        env = api.write_config(tmp_path / "codex-home")
        files = create_session(
            load_config(repo),
            name="codex-session",
            task="add a greeting",
            dive=None,
            agent=AgentSpec(
                kind=AgentKind.CODEX,
                command=str(CODEX),
                model="gpt-5-codex",
                timeout_seconds=120,
                env={**env, "HOME": str(tmp_path)},
            ),
            auto_approve_gates=True,
        )
        report = session_flow(str(files.root))
        assert not api.errors
        calls = len(api.requests)
    assert report.lifecycle is Lifecycle.DONE, report.reason
    done = iterations(read_history(files.history))
    assert len(done) == 8 and all(e.attempts == 1 for e in done)
    usage = total_usage(done)
    assert calls == 16  # two per iteration: the command, then the last word
    assert usage.input_tokens == 8 * (200 + 300) and usage.cache_read_input_tokens == 8 * 2200
    assert usage.output_tokens == 8 * (30 + 5)
