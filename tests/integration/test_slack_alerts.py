"""Session notices through the SlackAlerts block: a blocked session alerts, once."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from samoflow.flows.session import session_flow
from tests.support.convoys import use_slack
from tests.support.sessions import new_session
from tests.support.slack_capture import slack_capture

pytestmark = pytest.mark.usefixtures("prefect_api")

BLOCKS = '[[steps]]\noverview = "init"\nsignal = { status = "blocked", reason = "no database" }\n'


def test_a_blocked_session_alerts_slack_once(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = new_session(repo, BLOCKS, name="stuck")
    with slack_capture() as slack:
        use_slack(slack.url, monkeypatch)
        session_flow(str(files.root))
        session_flow(str(files.root))  # a re-run of a blocked session does not alert again
    (body,) = slack.delivered
    assert body["blocks"][0]["text"]["text"] == "⛔ samoflow session stuck is blocked"
    assert "no database" in body["text"]
    sent = repo / ".samoflow/sessions/_notices/sent/session-stuck-blocked-1.json"
    assert json.loads(sent.read_text())["attempts"] == 1


def test_without_a_slack_block_the_payload_is_printed(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SAMOFLOW_SLACK_BLOCK", "no-such-block")
    from samoflow.settings import get_settings

    get_settings.cache_clear()
    files = new_session(repo, BLOCKS, name="printed")
    session_flow(str(files.root))
    out = capsys.readouterr().out
    assert "Slack message (no SlackAlerts block configured)" in out
    assert "\n  > ⛔ samoflow session printed is blocked\n" in out  # as Slack shows it, quoted
    assert "Phase: " in out and '"blocks"' not in out  # not the JSON, unless asked


def test_a_missing_block_is_asked_for_again_only_after_a_while(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A 404 per notice is spared for MISSING_BLOCK_SECONDS; a block saved meanwhile counts
    from the first ask after that."""
    import samoflow.tasks.notify as notify
    from samoflow.blocks.slack import SlackAlerts
    from samoflow.settings import get_settings

    name = f"saved-later-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("SAMOFLOW_SLACK_BLOCK", name)
    get_settings.cache_clear()
    assert notify.slack_sender() is notify.print_payload
    SlackAlerts(webhook_url="http://127.0.0.1:9/hook").save(name, overwrite=True)
    assert notify.slack_sender() is notify.print_payload  # remembered missing: no request
    monkeypatch.setattr(notify, "_missing_blocks", {})  # the while is over
    sender = notify.slack_sender()
    assert sender is not notify.print_payload
    assert getattr(sender, "__self__", None) is not None  # the block's own send_payload
