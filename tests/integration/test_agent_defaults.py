"""The agent a real user gets: claude by default (or a message saying how to get it), and
errors no retry can heal (no login, a refused key, an unknown model) block at once."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import git
import pytest
from pydantic import SecretStr

from samoflow.agents.choice import NoAgentError
from samoflow.blocks.agent_config import AgentConfig
from samoflow.flows.session import session_flow
from samoflow.flows.start_session import start_session_flow
from samoflow.project import load_config
from samoflow.session.files import SessionFiles
from samoflow.session.history import iterations, read_history
from samoflow.session.spec import AgentKind, AgentSpec, read_spec
from samoflow.session.state import Lifecycle
from samoflow.session.store import create_session
from samoflow.settings import get_settings
from tests.support.claude_cli import claude_env, find_claude_binary
from tests.support.fake_anthropic import (
    FakeAnthropic,
    Reply,
    error_reply,
    tool_reply,
    write_file_reply,
)

CLAUDE = find_claude_binary()
needs_claude = pytest.mark.skipif(CLAUDE is None, reason="Claude Code CLI not installed")


def samoflow(repo: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "samoflow.cli", *args, "--repo", str(repo)],
        capture_output=True, text=True, timeout=300, env=env,
    )


def test_without_agent_and_without_claude_run_says_how_to_install_it(repo: Path) -> None:
    path = f"{Path(sys.executable).parent}:/usr/bin:/bin"
    if shutil.which("claude", path=path):
        pytest.skip("a claude binary is installed system-wide")
    env = {k: v for k, v in os.environ.items() if k != "SAMOFLOW_CLAUDE_BIN"} | {"PATH": path}

    result = samoflow(repo, "run", "add a greeting", env=env)

    assert result.returncode == 2, result.stdout + result.stderr
    said = " ".join(result.stdout.split())
    assert "npm install -g @anthropic-ai/claude-code" in said and "--agent scripted" in said
    assert not (repo / ".samoflow" / "sessions").exists()  # nothing created, nothing committed
    assert [b.name for b in git.Repo(repo).branches] == ["main"]


@needs_claude
@pytest.mark.usefixtures("prefect_api")
def test_without_agent_run_uses_claude_and_a_missing_login_blocks_at_once(
    repo: Path, tmp_path: Path
) -> None:
    assert CLAUDE is not None
    hermetic = claude_env("http://127.0.0.1:9", tmp_path / "home")  # nothing listens on :9
    hermetic.pop("ANTHROPIC_API_KEY")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "CLAUDE"))}
    env |= {**hermetic, "SAMOFLOW_CLAUDE_BIN": str(CLAUDE)}

    result = samoflow(repo, "run", "add a greeting", "--session", "nologin", env=env)

    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]
    files = SessionFiles(repo / ".samoflow" / "sessions" / "nologin")
    agent = read_spec(files.spec).agent
    assert agent.kind is AgentKind.CLAUDE and agent.command == str(CLAUDE)
    (entry,) = iterations(read_history(files.history))
    assert entry.outcome == "blocked" and entry.attempts == 1  # not retried as transient
    assert "not logged in" in (entry.reason or "") and "/login" in (entry.reason or "")
    assert "not logged in" in " ".join(result.stdout.split())


def run_against(api: FakeAnthropic, repo: Path, home: Path, name: str) -> SessionFiles:
    assert CLAUDE is not None
    env = {**claude_env(api.base_url, home), "CLAUDE_CODE_MAX_RETRIES": "0"}
    files = create_session(
        load_config(repo), name=name, task="add a greeting", dive=None,
        agent=AgentSpec(kind=AgentKind.CLAUDE, command=str(CLAUDE), model="claude-sonnet-4-5",
                        max_turns=5, timeout_seconds=120, env=env),
    )
    report = session_flow(str(files.root))
    assert report.lifecycle is Lifecycle.BLOCKED, report
    return files


@needs_claude
@pytest.mark.usefixtures("prefect_api")
def test_a_refused_api_key_blocks_at_once_with_the_fix(repo: Path, tmp_path: Path) -> None:
    with FakeAnthropic(lambda body, call: error_reply(401, message="invalid x-api-key")) as api:
        files = run_against(api, repo, tmp_path / "home", "badkey")
        calls = api.main_calls

    (entry,) = iterations(read_history(files.history))
    assert entry.attempts == 1 and calls == 1
    assert "the API refused the key (HTTP 401" in (entry.reason or "")
    assert "AgentConfig block" in (entry.reason or "")


@needs_claude
@pytest.mark.usefixtures("prefect_api")
def test_an_unknown_model_blocks_at_once_with_the_fix(repo: Path, tmp_path: Path) -> None:
    with FakeAnthropic(lambda body, call: error_reply(404, message="model: not found")) as api:
        files = run_against(api, repo, tmp_path / "home", "nomodel")

    (entry,) = iterations(read_history(files.history))
    assert entry.attempts == 1 and "--model" in (entry.reason or "")
    assert "unknown or not available" in (entry.reason or "")
    assert sorted(p.name for p in files.logs.glob("*.log")) == ["0001-init-attempt1.log"]


@needs_claude
@pytest.mark.usefixtures("prefect_api")
def test_a_session_that_names_an_agent_config_block_runs_with_every_field_of_it(
    repo: Path, tmp_path: Path
) -> None:
    assert CLAUDE is not None
    session = repo / ".samoflow" / "sessions" / "blocky"
    signal = {"status": "blocked", "reason": "the block's agent ran"}

    def script(body: dict[str, Any], call: int) -> Reply:
        if call == 0:
            return write_file_reply(session / "_signal.json", json.dumps(signal))
        return tool_reply("Bash", {"command": "true", "description": "keep going"})

    with FakeAnthropic(script) as api:
        AgentConfig(
            kind=AgentKind.CLAUDE, command=str(CLAUDE), model="claude-block-model", max_turns=2,
            timeout_seconds=99, base_url=api.base_url, api_key=SecretStr("sk-ant-from-block"),
        ).save("blocky-agent", overwrite=True)
        hermetic = claude_env("http://127.0.0.1:9", tmp_path / "home")  # the block's URL wins
        hermetic.pop("ANTHROPIC_API_KEY")  # and the block's key: no other one exists
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "CLAUDE"))}
        env |= hermetic | {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
                           "SAMOFLOW_ITERATION_RETRIES": "0"}
        env.pop("SAMOFLOW_CLAUDE_BIN", None)  # the binary comes from the block too

        result = samoflow(repo, "run", "add a greeting", "--session", "blocky",
                          "--agent-block", "blocky-agent", env=env)
        models = {request["model"] for request in api.main_requests}
        calls = api.main_calls

    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]
    files = SessionFiles(session)
    agent = read_spec(files.spec).agent
    assert (agent.kind, agent.block) == (AgentKind.CLAUDE, "blocky-agent")
    assert agent.command == str(CLAUDE)
    assert agent.timeout_seconds == 99 and agent.model == "claude-block-model"
    assert models == {"claude-block-model"}  # model, base_url and key from the block
    assert calls == 2  # max_turns from the block: the CLI stopped after two turns
    (entry,) = iterations(read_history(files.history))
    assert "error_max_turns" in (entry.reason or "") and entry.attempts == 1
    assert "sk-ant-from-block" not in files.spec.read_text()


SAY_BASE_URL = (
    "sh -c 'printf \"{\\\"status\\\": \\\"blocked\\\", \\\"reason\\\": \\\"%s\\\"}\" "
    "\"$ANTHROPIC_BASE_URL\" > \"$SAMOFLOW_SESSION_DIR/_signal.json\"'"
)


@pytest.mark.usefixtures("prefect_api")
def test_the_start_deployment_takes_the_agent_from_a_named_block(repo: Path) -> None:
    AgentConfig(
        kind=AgentKind.COMMAND, command=SAY_BASE_URL, base_url="http://proxy.invalid:8080",
        timeout_seconds=42, max_turns=7,
    ).save("start-agent", overwrite=True)

    report = start_session_flow(str(repo), "started", task="say the proxy",
                                agent_block="start-agent")

    assert report.lifecycle is Lifecycle.BLOCKED and report.reason == "http://proxy.invalid:8080"
    agent = read_spec(SessionFiles(repo / ".samoflow/sessions/started").spec).agent
    assert (agent.kind, agent.block, agent.timeout_seconds, agent.max_turns) == (
        AgentKind.COMMAND, "start-agent", 42, 7
    )


@pytest.mark.usefixtures("prefect_api")
def test_the_start_deployment_without_an_agent_and_without_claude_says_how_to_get_it(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SAMOFLOW_CLAUDE_BIN", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    get_settings.cache_clear()
    with pytest.raises(NoAgentError, match="npm install -g @anthropic-ai/claude-code"):
        start_session_flow(str(repo), "nobody", task="anything")
    assert not (repo / ".samoflow/sessions/nobody").exists()
