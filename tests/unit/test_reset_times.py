"""Every reset format, each text exactly as Claude Code or Codex prints it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from samoflow.agents.claude import ClaudeObserver
from samoflow.economy.rate_limit import RateLimit, from_text, wait_seconds
from samoflow.economy.reset_times import from_event, reset_at, retry_after

# 2026-12-01 14:47 UTC = 20:17 in Asia/Calcutta, 15:47 in Europe/Berlin.
NOW = datetime(2026, 12, 1, 14, 47, 12, tzinfo=UTC)
UTC_ZONE = ZoneInfo("UTC")


def at(text: str, local: str = "UTC") -> datetime | None:
    return reset_at(text, NOW, ZoneInfo(local))


def test_claude_code_limit_texts_name_the_next_such_wall_clock_time_in_their_zone() -> None:
    # Past 3:30am in Calcutta today: tomorrow's.
    assert at("You've hit your limit · resets 3:30am (Asia/Calcutta)") == datetime(
        2026, 12, 1, 22, 0, tzinfo=UTC
    )
    # Later today in Berlin.
    assert at("You've hit your session limit · resets 6:30pm (Europe/Berlin)") == datetime(
        2026, 12, 1, 17, 30, tzinfo=UTC
    )
    # Printed by claude 2.1.197 here against the scripted server (session and weekly).
    assert at("You've hit your session limit · resets 3:47pm (UTC)") == datetime(
        2026, 12, 1, 15, 47, tzinfo=UTC
    )
    assert at("You've hit your weekly limit · resets Dec 4, 3:50am (Asia/Kolkata)") == datetime(
        2026, 12, 3, 22, 20, tzinfo=UTC
    )


def test_claude_code_variants_from_its_issue_tracker() -> None:
    assert at("You've hit your limit · resets 8pm (Africa/Cairo)") == datetime(
        2026, 12, 1, 18, 0, tzinfo=UTC
    )
    assert at("You've hit your weekly limit · resets Jul 27 at 4:30am (Asia/Calcutta)") == (
        datetime(2027, 7, 26, 23, 0, tzinfo=UTC)  # a date already past is next year's
    )
    assert at(
        "Weekly limit reached · resets 10am (Asia/Seoul) · /upgrade to Max or turn on /extra-usage"
    ) == datetime(2026, 12, 2, 1, 0, tzinfo=UTC)
    # No zone: the machine's.
    assert at("5-hour limit reached ∙ resets 2am", "Europe/Berlin") == datetime(
        2026, 12, 2, 1, 0, tzinfo=UTC
    )
    assert at("Claude AI usage limit reached|1796140022") == datetime.fromtimestamp(
        1796140022, tz=UTC
    )


def test_a_wall_clock_reset_across_a_dst_change_keeps_the_zone_s_local_time() -> None:
    before_dst = datetime(2027, 3, 27, 12, 0, tzinfo=UTC)  # Berlin moves to CEST on the 28th
    got = reset_at(
        "You've hit your weekly limit · resets Mar 28, 3:00am (Europe/Berlin)", before_dst, UTC_ZONE
    )
    assert got == datetime(2027, 3, 28, 1, 0, tzinfo=UTC)


def test_codex_usage_limit_texts_are_in_the_machine_s_zone() -> None:
    event = json.dumps(
        {
            "type": "error",
            "message": "You've hit your usage limit. Upgrade to Pro (https://chatgpt.com/explore"
            "/pro), visit https://chatgpt.com/codex/settings/usage to purchase more credits or "
            "try again at Jan 1st, 2027 12:57 AM.",
        }
    )
    assert at(event) == datetime(2027, 1, 1, 0, 57, tzinfo=UTC)
    assert at(event, "America/New_York") == datetime(2027, 1, 1, 5, 57, tzinfo=UTC)
    assert at("You've hit your usage limit. Try again at 3:05 PM.") == datetime(
        2026, 12, 1, 15, 5, tzinfo=UTC
    )
    text = (
        "■ You've hit your usage limit. Upgrade to Pro (https://openai.com/chatgpt/pricing) or "
        "try again in 5 days 22 hours 11 minutes."
    )
    assert at(text) is None
    assert retry_after(text) == 5 * 86400 + 22 * 3600 + 11 * 60


def test_codex_json_error_bodies_carry_epoch_resets() -> None:
    body = (
        '{"type":"error","error":{"type":"usage_limit_reached","message":"The usage limit has '
        'been reached","plan_type":"plus","resets_at":1777936568,"resets_in_seconds":13872}}'
    )
    assert at(body) == datetime.fromtimestamp(1777936568, tz=UTC)


def test_relative_waits_and_texts_without_a_reset() -> None:
    assert retry_after("429: rate limited, retry after 30s") == 30
    assert retry_after("Retry-After: 2.5 s") == 2.5
    api_key_429 = (
        "API Error: Request rejected (429) · This request would exceed your account's rate "
        "limit. Please try again later."
    )
    limit = from_text(api_key_429, NOW)
    assert limit.resets_at is None and limit.retry_after_seconds is None


def test_the_rate_limit_event_of_stream_json() -> None:
    line = {
        "type": "rate_limit_event",
        "rate_limit_info": {
            "status": "rejected",
            "resetsAt": 1796140022,
            "rateLimitType": "five_hour",
            "isUsingOverage": False,
        },
    }
    assert from_event(line) == (
        "rejected",
        datetime.fromtimestamp(1796140022, tz=UTC),
        "five_hour",
    )
    assert from_event({"type": "assistant"}) is None


def test_claude_observer_takes_the_event_s_epoch_over_the_text(tmp_path: object) -> None:
    observer = ClaudeObserver()
    observer.feed(
        '{"type":"rate_limit_event","rate_limit_info":{"status":"allowed","resetsAt":1,'
        '"rateLimitType":"five_hour"}}'
    )
    observer.feed(
        '{"type":"rate_limit_event","rate_limit_info":{"status":"rejected",'
        '"resetsAt":1796140022,"rateLimitType":"seven_day","isUsingOverage":false}}'
    )
    observer.feed(
        '{"type":"result","subtype":"success","is_error":true,"api_error_status":429,'
        '"num_turns":1,"result":"You\'ve hit your weekly limit · resets Dec 4, 3:50am '
        '(Asia/Kolkata)","total_cost_usd":0}'
    )
    limit = observer.rate_limit(failed=True)
    assert limit is not None and limit.window == "seven_day"
    assert limit.resets_at == datetime.fromtimestamp(1796140022, tz=UTC)


def test_an_allowed_event_alone_is_no_limit() -> None:
    observer = ClaudeObserver()
    observer.feed(
        '{"type":"rate_limit_event","rate_limit_info":{"status":"allowed_warning",'
        '"resetsAt":1796140022,"rateLimitType":"five_hour"}}'
    )
    observer.feed('{"type":"result","subtype":"success","is_error":false,"result":"ok"}')
    assert observer.rate_limit(failed=False) is None


def test_a_named_reset_is_waited_for_exactly_plus_the_skew() -> None:
    limit = RateLimit(reason="x", resets_at=NOW + timedelta(hours=5))
    got = wait_seconds(limit, 4, default_seconds=60, max_seconds=100, now=NOW, skew_seconds=60)
    assert got == 5 * 3600 + 60  # no cap, no doubling for a reset that is known
