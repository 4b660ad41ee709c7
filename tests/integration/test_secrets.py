"""The agent's API key lives in a Block: it reaches the agent process and nothing else."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterName,
    LogFilter,
    LogFilterFlowRunId,
)
from prefect.logging.handlers import APILogHandler
from pydantic import SecretStr

from samoflow.agents.base import AgentRequest
from samoflow.agents.environment import agent_environment
from samoflow.blocks.agent_config import AgentConfig
from samoflow.flows.session import session_flow
from samoflow.project import load_config
from samoflow.session.spec import AgentKind, AgentSpec
from samoflow.session.store import create_session
from samoflow.settings import get_settings
from tests.conftest import wait_until

SECRET = "sk-ant-secret-4242-do-not-leak"
# The agent compares a hash, so the command line itself holds no secret.
DIGEST = hashlib.sha256(SECRET.encode()).hexdigest()
CHECK_KEY = (
    'h=$(printf %s "$ANTHROPIC_API_KEY" | sha256sum | cut -d" " -f1); '
    'if [ "$h" = "' + DIGEST + '" ]; then r="key arrived"; else r="no key"; fi; '
    'echo "{\\"status\\": \\"blocked\\", \\"reason\\": \\"$r\\"}" '
    '> "$SAMOFLOW_SESSION_DIR/_signal.json"'
)


@pytest.mark.usefixtures("prefect_api")
def test_the_block_key_reaches_the_agent_and_no_file_or_log(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    AgentConfig(kind=AgentKind.COMMAND, api_key=SecretStr(SECRET)).save(
        "test-agent", overwrite=True
    )
    monkeypatch.setenv("SAMOFLOW_AGENT_BLOCK", "test-agent")
    get_settings.cache_clear()
    files = create_session(
        load_config(repo),
        name="secret",
        task="check the key",
        dive=None,
        agent=AgentSpec(kind=AgentKind.COMMAND, command=f"sh -c '{CHECK_KEY}'"),
    )
    report = session_flow(str(files.root))
    assert report.reason == "key arrived"
    for path in files.root.rglob("*"):
        if path.is_file():
            assert SECRET not in path.read_text(errors="replace"), path
    APILogHandler().flush()

    def session_logs() -> list[str]:
        with get_client(sync_client=True) as client:
            (run,) = client.read_flow_runs(
                flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=["session-secret"]))
            )
            logs = client.read_logs(
                log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run.id])), limit=200
            )
        return [log.message for log in logs]

    wait_until(lambda: bool(session_logs()), 30, "the session's logs on the server")
    assert all(SECRET not in message for message in session_logs())


def test_slack_and_prefect_credentials_never_reach_an_agent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1")
    monkeypatch.setenv("PREFECT_API_KEY", "pnu_1")
    monkeypatch.setenv("SAMOFLOW_SLACK_WEBHOOK", "https://hooks")
    request = AgentRequest(
        session_dir=tmp_path,
        working_dir=tmp_path,
        hook_path=tmp_path / "_hook.json",
        prompt="p",
        instructions="i",
        prompt_file=tmp_path / "p.md",
        log_path=tmp_path / "l",
        phase="init",
        iteration=1,
        attempt=1,
        role="coordinator",
        timeout_seconds=1,
    )
    env = agent_environment(request)
    assert not {"SLACK_BOT_TOKEN", "PREFECT_API_KEY", "SAMOFLOW_SLACK_WEBHOOK"} & set(env)
    assert env["SAMOFLOW_PHASE"] == "init" and env["SAMOFLOW_ROLE"] == "coordinator"
