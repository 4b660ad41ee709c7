"""Reply tests: a gated session run on a thread, reply channels configured as blocks."""

from __future__ import annotations

import contextvars
import threading
import uuid
from uuid import UUID

import pytest
from prefect.client.orchestration import get_client
from pydantic import SecretStr

from samoflow.blocks.slack import SlackAlerts
from samoflow.blocks.telegram import TelegramAlerts
from samoflow.flows.session import session_flow
from samoflow.session.files import SessionFiles
from samoflow.session.gate import read_gate
from samoflow.session.state import SessionReport
from samoflow.settings import get_settings
from tests.support.telegram_api import CHAT_ID, TOKEN


def quick_replies(monkeypatch: pytest.MonkeyPatch) -> None:
    """Long polls of one second, listens of a few: tests wait on results, not on timeouts."""
    monkeypatch.setenv("SAMOFLOW_REPLY_POLL_SECONDS", "1")
    monkeypatch.setenv("SAMOFLOW_STOP_WAIT_SECONDS", "30")
    get_settings.cache_clear()


def use_telegram(base_url: str, monkeypatch: pytest.MonkeyPatch, allowed: list[int]) -> None:
    name = f"tg-{uuid.uuid4().hex[:8]}"
    TelegramAlerts(bot_token=SecretStr(TOKEN), chat_id=CHAT_ID, allowed_user_ids=allowed,
                   api_base_url=base_url).save(name, overwrite=True)
    monkeypatch.setenv("SAMOFLOW_TELEGRAM_BLOCK", name)
    monkeypatch.setenv("SAMOFLOW_SLACK_BLOCK", "no-such-slack-block")
    quick_replies(monkeypatch)


def use_slack_bot(api_url: str, monkeypatch: pytest.MonkeyPatch, allowed: list[str]) -> str:
    name = f"slack-{uuid.uuid4().hex[:8]}"
    SlackAlerts(bot_token=SecretStr("xoxb-slack-secret"), channel="C42",
                allowed_user_ids=allowed, api_base_url=api_url).save(name, overwrite=True)
    monkeypatch.setenv("SAMOFLOW_SLACK_BLOCK", name)
    monkeypatch.delenv("SAMOFLOW_TELEGRAM_BLOCK", raising=False)
    quick_replies(monkeypatch)
    return "xoxb-slack-secret"


def run_in_thread(files: SessionFiles, reports: list[SessionReport]) -> threading.Thread:
    context = contextvars.copy_context()  # the thread uses the test's Prefect API
    runner = threading.Thread(
        target=lambda: reports.append(context.run(session_flow, str(files.root)))
    )
    runner.start()
    return runner


def paused_at(files: SessionFiles, iteration: int) -> bool:
    gate = read_gate(files.gate)
    if gate is None or gate.flow_run_id is None or gate.iteration != iteration:
        return False
    with get_client(sync_client=True) as client:
        state = client.read_flow_run(UUID(gate.flow_run_id)).state
    return state is not None and state.is_paused()
