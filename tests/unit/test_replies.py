"""What a reply means, who may act, and how a notice reads in Telegram Markdown."""

from __future__ import annotations

from samoflow.notices.slack import SlackPayload
from samoflow.notices.telegram import escape_markdown, markdown_text
from samoflow.replies.access import Access
from samoflow.replies.actions import ActionKind, interpret


def test_commands_are_commands_wherever_the_session_stands() -> None:
    for waiting in (True, False):
        assert interpret("/status", waiting=waiting).kind is ActionKind.STATUS
        assert interpret("/stop@samoflow_bot", waiting=waiting).kind is ActionKind.STOP
        assert interpret(" /pause now", waiting=waiting).kind is ActionKind.PAUSE
        assert interpret("/resume", waiting=waiting).kind is ActionKind.RESUME
        assert interpret("/deploy", waiting=waiting).kind is ActionKind.UNKNOWN


def test_at_a_gate_a_reply_is_the_answer_approved_unless_it_rejects() -> None:
    approve = interpret("approve", waiting=True)
    assert (approve.kind, approve.approve, approve.text) == (ActionKind.ANSWER, True, "approve")
    free = interpret("B) French, please", waiting=True)
    assert (free.kind, free.approve, free.text) == (ActionKind.ANSWER, True, "B) French, please")
    rejected = interpret("Reject: too vague, split step 2", waiting=True)
    assert (rejected.approve, rejected.text) == (False, "too vague, split step 2")
    assert interpret("reject", waiting=True).text == "reject"


def test_while_it_runs_free_text_is_an_inbox_message() -> None:
    message = interpret("use the v2 API", waiting=False)
    assert (message.kind, message.text) == (ActionKind.INBOX, "use the v2 API")


def test_only_the_configured_chat_and_allowed_users_may_act() -> None:
    anyone = Access(chat="-1001", allowed_users=frozenset())
    assert anyone.refusal("-1001", "7") is None
    assert anyone.refusal("-2002", "7") == "chat -2002 is not the configured chat"
    listed = Access(chat="-1001", allowed_users=frozenset({"42"}))
    assert listed.refusal("-1001", "42") is None
    assert listed.refusal("-1001", "7") == "user 7 is not an allowed user"


def test_telegram_markdown_escapes_outside_code_and_bolds_the_headline() -> None:
    assert escape_markdown("set auto_approve `a_b` *now* [x]") == (
        "set auto\\_approve `a_b` \\*now\\* \\[x]"
    )
    assert escape_markdown("odd ` tick") == "odd ' tick"
    payload = SlackPayload(text="⛔ session `s1` is blocked\nno db_url", blocks=())
    assert markdown_text(payload) == "*⛔ session `s1` is blocked*\nno db\\_url"
