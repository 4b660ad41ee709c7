"""Replies that act, through the real channel clients against local servers on 127.0.0.1:
Telegram (`sendMessage`, `getUpdates`) and Slack (`chat.postMessage`,
`conversations.replies`, through slack-sdk). A reply approves the gate and the session goes
on; a reply from a user not allowed is ignored; a restarted listener reads nothing twice."""

from __future__ import annotations

from pathlib import Path

import pytest

from samoflow.flows.listen import listen_flow
from samoflow.flows.monitor import monitor_flow
from samoflow.notices.outbox import NoticeOutbox
from samoflow.session.history import EntryKind, read_history
from samoflow.session.state import Lifecycle, SessionReport, load_state
from samoflow.settings import get_settings
from tests.conftest import free_port, wait_until
from tests.support.replies import paused_at, run_in_thread, use_slack_bot, use_telegram
from tests.support.sessions import new_session
from tests.support.slack_capture import slack_capture
from tests.support.telegram_api import fake_telegram

pytestmark = pytest.mark.usefixtures("prefect_api")


def answers(files_history: Path) -> list[tuple[str, str | None]]:
    rows = read_history(files_history)
    return [(r.phase, r.next_phase) for r in rows if r.kind is EntryKind.ANSWER]


def test_telegram_replies_answer_the_gates_and_only_allowed_users_act(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = new_session(repo, name="asked", auto_approve=False)
    reports: list[SessionReport] = []
    with fake_telegram([500]) as telegram:  # the first sendMessage fails: retried, once
        use_telegram(telegram.base_url, monkeypatch, allowed=[42])
        runner = run_in_thread(files, reports)
        wait_until(lambda: paused_at(files, 3), 120, "the requirements gate")
        wait_until(lambda: len(telegram.texts()) == 1, 60, "the waiting notice on Telegram")
        assert len(telegram.posts) == 2 and "is waiting" in telegram.texts()[0]
        notice_id = telegram.next_message_id

        telegram.reply(notice_id, "approve", user_id=999)  # not an allowed user
        assert [h.ignored for h in listen_flow(str(repo), seconds=2)] == [
            "user 999 is not an allowed user"
        ]
        assert paused_at(files, 3) and answers(files.history) == []

        telegram.reply(notice_id, "B) French, please", user_id=42)
        (acted,) = listen_flow(str(repo), seconds=2)
        assert acted.action == "answer" and acted.session == "asked"
        wait_until(lambda: paused_at(files, 4), 120, "the plan approval gate: it went on")
        assert "B) French, please" in files.qa.read_text()
        assert "approved; the paused run goes on" in telegram.texts()[1]  # the acknowledgement

        assert listen_flow(str(repo), seconds=2) == []  # a restarted listener: nothing twice
        served = telegram.served_update_ids
        assert len(served) == len(set(served)) == 2

        plan_notice = telegram.next_message_id
        wait_until(lambda: "plan ready" in telegram.texts()[-1], 60, "the plan notice")
        plan_notice = telegram.next_message_id
        telegram.reply(plan_notice, "/status", user_id=42)
        telegram.reply(plan_notice, "approve", user_id=42)
        # The scheduled monitor listens for the rest of its minute (its deployment's
        # `listen: true`): the same replies act from its sweep, with no listen run.
        monkeypatch.setenv("SAMOFLOW_LISTEN_SECONDS", "2")
        get_settings.cache_clear()
        before = len(telegram.texts())
        checks = monitor_flow(str(repo), listen=True)
        assert [c.session for c in checks] == ["asked"]  # alive: swept, left alone
        status_answer, acknowledgement = telegram.texts()[before : before + 2]
        assert "waiting in phase planning" in status_answer
        assert "approved; the paused run goes on" in acknowledgement
        runner.join(timeout=180)
    assert reports and reports[0].lifecycle is Lifecycle.DONE
    assert answers(files.history) == [("requirements", "planning"), ("planning", "implementation")]
    cursor = NoticeOutbox.for_channel(files.sessions_root, "telegram").root / "replies.json"
    assert str(max(telegram.served_update_ids) + 1) in cursor.read_text()


def test_slack_thread_replies_answer_the_gate_and_stop_the_session(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = new_session(repo, name="threaded", auto_approve=False)
    reports: list[SessionReport] = []
    with slack_capture() as slack:
        use_slack_bot(slack.api_url, monkeypatch, allowed=["U42"])
        runner = run_in_thread(files, reports)
        wait_until(lambda: paused_at(files, 3), 120, "the requirements gate")
        wait_until(lambda: len(slack.messages) == 1, 60, "the waiting notice in Slack")
        thread = slack.messages[0]["ts"]

        slack.user_reply(thread, "approve", user="U999")
        assert [h.ignored for h in listen_flow(str(repo), seconds=1)] == [
            "user U999 is not an allowed user"
        ]
        slack.user_reply(thread, "French", user="U42")
        (acted,) = listen_flow(str(repo), seconds=1)
        assert acted.action == "answer"
        wait_until(lambda: paused_at(files, 4), 120, "the plan approval gate: it went on")
        assert any("the paused run goes on" in t for t in slack.bot_replies(thread))
        assert listen_flow(str(repo), seconds=1) == []  # nothing read twice

        plan = next(m["ts"] for m in slack.messages if "plan ready" in m["text"])
        slack.user_reply(plan, "/stop", user="U42")
        (stopped,) = listen_flow(str(repo), seconds=1)
        assert stopped.action == "stop" and "stopped by slack user U42" in (stopped.answer or "")
        runner.join(timeout=120)
    assert load_state(files).lifecycle is Lifecycle.STOPPED
    assert not files.lease.exists()


def test_a_channel_that_is_down_never_fails_the_monitors_sweep(
    repo: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    use_telegram(f"http://127.0.0.1:{free_port()}", monkeypatch, allowed=[42])  # nobody there
    monkeypatch.setenv("SAMOFLOW_LISTEN_SECONDS", "1")
    get_settings.cache_clear()
    with pytest.raises(Exception):  # noqa: B017 - whatever the client raises, it is raised
        listen_flow(str(repo), seconds=1)
    assert monitor_flow(str(repo), listen=True) == []  # swept (nothing there), completed
    assert "listening for replies failed" in caplog.text
