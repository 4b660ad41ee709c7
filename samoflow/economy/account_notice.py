"""What samoflow tells a human about an account: paused (once per pause) and resumed."""

from __future__ import annotations

from samoflow.economy.accounts import AccountStatus
from samoflow.notices.slack import SlackPayload


def _clock(status: AccountStatus) -> str:
    return f"{status.until:%Y-%m-%d %H:%M} UTC" if status.until is not None else "a resume"


def paused_key(status: AccountStatus) -> str:
    return f"account-{status.account}-paused-{status.pause_id}"


def resumed_key(status: AccountStatus) -> str:
    return f"account-{status.account}-resumed-{status.pause_id}"


def _payload(headline: str, text: str, next_step: str) -> SlackPayload:
    blocks = (
        {"type": "header", "text": {"type": "plain_text", "text": headline[:150]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": text[:2900]}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": f"next: {next_step}"}]},
    )
    return SlackPayload(text=f"{headline}\n{text}\nnext: {next_step}", blocks=blocks)


def paused_payload(status: AccountStatus, waiting: int) -> SlackPayload:
    cause = status.cause.value if status.cause is not None else "limit"
    headline = (
        f"⏳ account {status.account} paused until {_clock(status)}, {waiting} sessions waiting"
    )
    window = f" ({status.window})" if status.window else ""
    return _payload(
        headline,
        f"{cause}{window}: {status.reason}",
        f"it resumes by itself at the reset; `samoflow limits resume {status.account}` now",
    )


def resumed_payload(status: AccountStatus, by: str) -> SlackPayload:
    return _payload(
        f"▶️ account {status.account} resumed",
        f"resumed by {by}; the waiting sessions follow",
        "`samoflow limits` shows every account",
    )
