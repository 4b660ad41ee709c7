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


DUMP_ENV = (
    'env > "$SAMOFLOW_SESSION_DIR/agent-env.txt"; '
    'echo "{\\"status\\": \\"blocked\\", \\"reason\\": \\"env dumped\\"}" '
    '> "$SAMOFLOW_SESSION_DIR/_signal.json"'
)


@pytest.mark.usefixtures("prefect_api")
def test_bot_tokens_never_reach_files_logs_artifacts_or_agents(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect.client.schemas.filters import ArtifactFilter

    from samoflow.blocks.slack import SlackAlerts
    from samoflow.blocks.telegram import TelegramAlerts
    from samoflow.flows.listen import listen_flow
    from tests.support.replies import quick_replies
    from tests.support.slack_capture import slack_capture
    from tests.support.telegram_api import CHAT_ID, TOKEN, fake_telegram

    slack_token = "xoxb-slack-secret-77"
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)  # also where a user might keep it
    files = create_session(
        load_config(repo), name="tokens", task="dump the env", dive=None,
        agent=AgentSpec(kind=AgentKind.COMMAND, command=f"sh -c '{DUMP_ENV}'"),
    )
    with fake_telegram() as telegram, slack_capture() as slack:
        TelegramAlerts(bot_token=SecretStr(TOKEN), chat_id=CHAT_ID,
                       api_base_url=telegram.base_url).save("tg-tokens", overwrite=True)
        SlackAlerts(bot_token=SecretStr(slack_token), channel="C42",
                    api_base_url=slack.api_url).save("slack-tokens", overwrite=True)
        monkeypatch.setenv("SAMOFLOW_TELEGRAM_BLOCK", "tg-tokens")
        monkeypatch.setenv("SAMOFLOW_SLACK_BLOCK", "slack-tokens")
        quick_replies(monkeypatch)
        assert session_flow(str(files.root)).reason == "env dumped"
        telegram.reply(telegram.next_message_id, "/status")
        slack.user_reply(slack.messages[0]["ts"], "/status")
        handled = listen_flow(str(repo), seconds=2)
    assert sorted(h.action or "" for h in handled) == ["status", "status"]
    assert "blocked" in telegram.texts()[-1]
    secrets = (TOKEN, slack_token)
    for path in files.sessions_root.rglob("*"):
        if path.is_file():
            text = path.read_text(errors="replace")
            assert not any(secret in text for secret in secrets), path
    assert "SAMOFLOW_SESSION_DIR" in (files.root / "agent-env.txt").read_text()
    APILogHandler().flush()
    with get_client(sync_client=True) as client:
        logs: list[str] = []
        while page := client.read_logs(limit=200, offset=len(logs)):  # the API's page size
            logs += [log.message for log in page]
        artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(), limit=200)
    assert logs and not any(secret in message for message in logs for secret in secrets)
    for artifact in artifacts:
        shown = f"{artifact.data} {artifact.description}"
        assert not any(secret in shown for secret in secrets), artifact.key
