"""Accounts: which account a session spends, and the account's pause, as pure transitions.

An account is named (the spec's `account`, else the `account` setting) or derived: the
agent kind plus a fingerprint of its key (sha256, 10 hex digits; the key itself is never
stored or shown). One `AccountStatus` per account is the shared truth every session
reads before an attempt; the Prefect side (tasks/accounts.py) keeps it in a Variable and
serialises the changes below. A usage limit pauses the account until the reset; at the
reset one session probes, the others wait until the probe resumes the account.
"""

from __future__ import annotations

import hashlib
import random
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from samoflow.economy.rate_limit import RateLimit, wait_seconds
from samoflow.names import slugify
from samoflow.session.spec import AgentSpec
from samoflow.settings import Settings

# Environment variables that hold the credential an account is known by, per agent CLI.
KEY_VARIABLES = (
    "CLAUDE_CODE_OAUTH_TOKEN",
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
    "CODEX_API_KEY",
    "OPENAI_API_KEY",
)
MAX_LISTED_WAITERS = 50  # keeps the Variable's value far under Prefect's 5,000 characters


class AccountState(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"  # no attempt starts until `until`
    PROBING = "probing"  # one session's attempt tests the account; the rest still wait


class PauseCause(StrEnum):
    LIMIT = "usage limit"
    BUDGET = "daily budget"
    HAND = "by hand"


class AccountStatus(BaseModel):
    model_config = ConfigDict(frozen=True)

    account: str
    state: AccountState = AccountState.ACTIVE
    cause: PauseCause | None = None
    until: datetime | None = None
    reason: str = ""
    window: str | None = None
    pause_id: int = 0  # counts pauses: one notice per pause, keyed by it
    paused_at: datetime | None = None
    consecutive: int = 0  # pauses since the last good probe: doubles an unknown reset's wait
    probe: str | None = None
    probe_started: datetime | None = None
    waiting: tuple[str, ...] = ()
    day: str = ""  # the UTC day the spend below belongs to
    spent_usd: float = 0.0
    spent_tokens: int = 0
    budget_usd: float | None = Field(default=None, gt=0)  # a raise by hand beats the setting
    budget_tokens: int | None = Field(default=None, gt=0)


class Go(StrEnum):
    GO = "go"  # run the attempt
    PROBE = "probe"  # run it as the account's probe
    WAIT = "wait"


def fingerprint(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:10]


def account_of(
    agent: AgentSpec,
    secret_env: dict[str, str],
    settings: Settings,
    inherited: dict[str, str] | None = None,
) -> str:
    """The account a session spends: named, else agent kind + key fingerprint (the key the
    agent gets: its block's, its spec's, else the one it inherits from samoflow's env)."""
    if agent.account:
        return slugify(agent.account)
    if settings.account:
        return slugify(settings.account)
    env = {**(inherited or {}), **agent.env, **secret_env}
    key = next((env[name] for name in KEY_VARIABLES if env.get(name)), None)
    return f"{agent.kind.value}-{fingerprint(key) if key else 'nokey'}"


def utc_day(now: datetime) -> str:
    return now.astimezone(UTC).date().isoformat()


def next_day(now: datetime) -> datetime:
    today = now.astimezone(UTC).date()
    return datetime(today.year, today.month, today.day, tzinfo=UTC) + timedelta(days=1)


def _with_waiter(status: AccountStatus, session: str) -> AccountStatus:
    if session in status.waiting or len(status.waiting) >= MAX_LISTED_WAITERS:
        return status
    return status.model_copy(update={"waiting": (*status.waiting, session)})


def pause_for_limit(
    status: AccountStatus, limit: RateLimit, session: str, now: datetime, settings: Settings
) -> AccountStatus:
    """A session saw a limit. A new pause, unless the account is paused already (then the
    later reset wins); a failed probe pauses again with one more `consecutive`.
    """
    failed_probe = status.state is AccountState.PROBING and status.probe == session
    if status.state is AccountState.PAUSED or (
        status.state is AccountState.PROBING and not failed_probe
    ):
        skew = timedelta(seconds=settings.limit_reset_skew_seconds)
        reset = limit.resets_at + skew if limit.resets_at is not None else None
        later = reset is not None and (status.until is None or reset > status.until)
        return _with_waiter(status.model_copy(update={"until": reset} if later else {}), session)
    consecutive = status.consecutive + 1
    seconds = wait_seconds(
        limit,
        consecutive,
        default_seconds=settings.rate_limit_default_wait_seconds,
        max_seconds=settings.rate_limit_max_wait_seconds,
        now=now,
        skew_seconds=settings.limit_reset_skew_seconds,
    )
    return status.model_copy(
        update={
            "state": AccountState.PAUSED,
            "cause": PauseCause.LIMIT,
            # A named reset exactly (plus the skew); a guess from now.
            "until": limit.resets_at + timedelta(seconds=settings.limit_reset_skew_seconds)
            if limit.resets_at is not None
            else now + timedelta(seconds=seconds),
            "reason": limit.reason,
            "window": limit.window,
            "pause_id": status.pause_id if failed_probe else status.pause_id + 1,
            "paused_at": now,
            "consecutive": consecutive,
            "probe": None,
            "probe_started": None,
            "waiting": (session,),
        }
    )


def decide(
    status: AccountStatus, session: str, now: datetime, settings: Settings
) -> tuple[Go, AccountStatus]:
    """Before an attempt: go, probe (and hold the probe) or wait; the new status to store."""
    if status.state is AccountState.ACTIVE:
        return Go.GO, status
    if status.state is AccountState.PROBING:
        if status.probe == session:
            return Go.PROBE, status
        stale = status.probe_started is not None and now - status.probe_started > timedelta(
            seconds=settings.account_probe_stale_seconds
        )
        if not stale:
            return Go.WAIT, _with_waiter(status, session)
    elif status.until is not None and now < status.until:
        return Go.WAIT, _with_waiter(status, session)
    if status.cause is PauseCause.BUDGET and status.day != utc_day(now):
        return Go.GO, resumed(status)  # a new day: the daily budget starts again
    if status.cause is PauseCause.HAND or not settings.account_auto_resume:
        return Go.WAIT, _with_waiter(status, session)
    claimed = {"state": AccountState.PROBING, "probe": session, "probe_started": now}
    return Go.PROBE, status.model_copy(update=claimed)


def probe_handed_back(status: AccountStatus, session: str) -> AccountStatus:
    """The probe's session stops (done, blocked, at a gate) before any agent of it reached the
    API: the claim goes back, so the next waiter probes now, not after the stale timeout."""
    if status.state is not AccountState.PROBING or status.probe != session:
        return status
    return status.model_copy(
        update={"state": AccountState.PAUSED, "probe": None, "probe_started": None}
    )


def resumed(status: AccountStatus) -> AccountStatus:
    """The probe got through (or a human resumed it): every session may go again."""
    return status.model_copy(
        update={
            "state": AccountState.ACTIVE,
            "cause": None,
            "until": None,
            "consecutive": 0,
            "probe": None,
            "probe_started": None,
            "waiting": (),
        }
    )


def follower_delay(settings: Settings, rng: random.Random | None = None) -> float:
    """A waiting session starts this long after the resume, so they do not all start at once."""
    return round((rng or random).uniform(0, settings.account_resume_jitter_seconds), 3)
