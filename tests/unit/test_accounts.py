"""One account, one pause: the transitions every session of an account goes through."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from samoflow.economy.accounts import (
    AccountState,
    AccountStatus,
    Go,
    PauseCause,
    account_of,
    decide,
    pause_for_limit,
    probe_handed_back,
    resumed,
)
from samoflow.economy.daily_budget import add_spend, raise_budget
from samoflow.economy.rate_limit import RateLimit
from samoflow.session.history import Usage
from samoflow.session.spec import AgentKind, AgentSpec
from samoflow.settings import Settings

NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
SETTINGS = Settings(limit_reset_skew_seconds=60, rate_limit_default_wait_seconds=300)
RESET = RateLimit(
    reason="You've hit your limit · resets 3:30am (UTC)",
    resets_at=NOW + timedelta(hours=1, minutes=30),
)


def test_the_default_account_is_the_agent_kind_and_a_key_fingerprint_never_the_key() -> None:
    key = "sk-ant-api03-secret"
    one = account_of(AgentSpec(kind=AgentKind.CLAUDE, env={"ANTHROPIC_API_KEY": key}), {}, SETTINGS)
    same = account_of(AgentSpec(kind=AgentKind.CLAUDE), {"ANTHROPIC_API_KEY": key}, SETTINGS)
    other = account_of(AgentSpec(kind=AgentKind.CLAUDE), {"ANTHROPIC_API_KEY": "x"}, SETTINGS)
    assert one == same != other and one.startswith("claude-") and "secret" not in one
    named = AgentSpec(kind=AgentKind.CLAUDE, account="Team Max")
    assert account_of(named, {}, SETTINGS) == "team-max"
    assert account_of(AgentSpec(), {}, Settings(account="night")) == "night"


def test_the_first_limit_pauses_the_account_until_the_reset_plus_skew() -> None:
    paused = pause_for_limit(AccountStatus(account="a"), RESET, "s1", NOW, SETTINGS)
    assert paused.state is AccountState.PAUSED and paused.pause_id == 1
    assert paused.until == NOW + timedelta(hours=1, minutes=31)
    # A second session's failure joins the same pause: no new pause, no second notice.
    joined = pause_for_limit(paused, RESET, "s2", NOW + timedelta(seconds=1), SETTINGS)
    assert joined.pause_id == 1 and joined.waiting == ("s1", "s2")


def test_sessions_wait_until_the_reset_then_one_probes_and_the_rest_follow_it() -> None:
    paused = pause_for_limit(AccountStatus(account="a"), RESET, "s1", NOW, SETTINGS)
    go, paused = decide(paused, "s3", NOW + timedelta(minutes=5), SETTINGS)
    assert go is Go.WAIT and "s3" in paused.waiting
    after_reset = NOW + timedelta(hours=2)
    go, probing = decide(paused, "s2", after_reset, SETTINGS)
    assert go is Go.PROBE and probing.state is AccountState.PROBING and probing.probe == "s2"
    assert decide(probing, "s1", after_reset, SETTINGS)[0] is Go.WAIT
    assert decide(probing, "s2", after_reset, SETTINGS)[0] is Go.PROBE  # a restarted probe
    assert decide(resumed(probing), "s1", after_reset, SETTINGS)[0] is Go.GO


def test_a_failed_probe_pauses_again_with_a_longer_wait_and_the_same_pause() -> None:
    unknown = RateLimit(reason="API Error: Request rejected (429)")
    paused = pause_for_limit(AccountStatus(account="a"), unknown, "s1", NOW, SETTINGS)
    first = (paused.until - NOW).total_seconds()
    later = NOW + timedelta(minutes=10)
    _, probing = decide(paused, "s1", later, SETTINGS)
    again = pause_for_limit(probing, unknown, "s1", later, SETTINGS)
    assert again.state is AccountState.PAUSED and again.pause_id == paused.pause_id
    assert 300 <= first <= 330 and (again.until - later).total_seconds() >= 600  # doubled
    assert again.consecutive == 2


def test_a_dead_probe_is_taken_over() -> None:
    paused = pause_for_limit(AccountStatus(account="a"), RESET, "s1", NOW, SETTINGS)
    _, probing = decide(paused, "s1", NOW + timedelta(hours=2), SETTINGS)
    stale = NOW + timedelta(hours=2, seconds=SETTINGS.account_probe_stale_seconds + 1)
    go, taken = decide(probing, "s2", stale, SETTINGS)
    assert go is Go.PROBE and taken.probe == "s2"


def test_a_probe_handed_back_is_claimed_by_the_next_waiter_at_once() -> None:
    paused = pause_for_limit(AccountStatus(account="a"), RESET, "s1", NOW, SETTINGS)
    after_reset = NOW + timedelta(hours=2)
    _, probing = decide(paused, "s1", after_reset, SETTINGS)
    assert probe_handed_back(probing, "s2") == probing  # only its holder hands it back
    back = probe_handed_back(probing, "s1")
    assert back.state is AccountState.PAUSED and back.probe is None
    assert back.pause_id == paused.pause_id  # the same pause: no second notice
    go, taken = decide(back, "s2", after_reset, SETTINGS)
    assert go is Go.PROBE and taken.probe == "s2"


def test_without_automatic_resume_the_account_stays_paused_until_a_human_resumes_it() -> None:
    manual = Settings(account_auto_resume=False)
    paused = pause_for_limit(AccountStatus(account="a"), RESET, "s1", NOW, manual)
    assert decide(paused, "s1", NOW + timedelta(days=1), manual)[0] is Go.WAIT
    assert decide(resumed(paused), "s1", NOW + timedelta(days=1), manual)[0] is Go.GO


def test_the_daily_budget_pauses_the_account_until_the_next_day_or_a_raise() -> None:
    capped = Settings(account_daily_budget_usd=1.0)
    spent = add_spend(AccountStatus(account="a"), Usage(cost_usd=0.6), NOW, capped)
    assert spent.state is AccountState.ACTIVE
    over = add_spend(spent, Usage(cost_usd=0.5), NOW, capped)
    assert over.state is AccountState.PAUSED and over.cause is PauseCause.BUDGET
    assert over.until == datetime(2026, 12, 2, tzinfo=UTC)
    assert decide(over, "s1", NOW + timedelta(hours=1), capped)[0] is Go.WAIT
    go, next_day = decide(over, "s1", datetime(2026, 12, 2, 0, 1, tzinfo=UTC), capped)
    assert go is Go.GO and next_day.state is AccountState.ACTIVE
    raised = raise_budget(over, 5.0, None, capped)
    assert raised.state is AccountState.ACTIVE and raised.budget_usd == 5.0
