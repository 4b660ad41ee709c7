"""Codex's `exec --json` events, as codex-cli 0.171.0 prints them (recorded here)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from samoflow.agents.codex import CodexObserver

RECORDED = [
    '{"type":"thread.started","thread_id":"01a2322c-a2d5-79f2-92bb-9a8542811e75"}',
    '{"type":"turn.started"}',
    '{"type":"item.completed","item":{"id":"item_1","type":"agent_message","text":"hello"}}',
    '{"type":"turn.completed","usage":{"input_tokens":1200,"cached_input_tokens":1000,'
    '"cache_write_input_tokens":0,"output_tokens":30,"reasoning_output_tokens":0}}',
]


def test_turn_usage_keeps_cached_input_apart() -> None:
    observer = CodexObserver()
    for line in RECORDED * 2:
        observer.feed(line)
    usage = observer.usage()
    assert (usage.input_tokens, usage.cache_read_input_tokens, usage.output_tokens) == (
        400,
        2000,
        60,
    )
    assert observer.error() is None and observer.rate_limit(failed=False) is None


def test_a_usage_limit_error_is_a_limit_with_its_reset() -> None:
    observer = CodexObserver()
    observer.feed(RECORDED[0])
    message = (
        "You've hit your usage limit. Upgrade to Pro (https://chatgpt.com/explore/pro), visit "
        "https://chatgpt.com/codex/settings/usage to purchase more credits or try again at "
        "Jan 1st, 2027 12:57 AM."
    )
    observer.feed(json.dumps({"type": "error", "message": message}))
    observer.feed(json.dumps({"type": "turn.failed", "error": {"message": message}}))
    limit = observer.rate_limit(failed=True)
    assert limit is not None and limit.resets_at is not None
    assert limit.resets_at == datetime(2027, 1, 1, 0, 57).astimezone().astimezone(UTC)  # local
    assert observer.error() is not None


def test_another_failure_is_a_failure_not_a_limit() -> None:
    observer = CodexObserver()
    observer.feed(
        '{"type":"turn.failed","error":{"message":"stream disconnected before completion"}}'
    )
    assert observer.rate_limit(failed=True) is None
    assert "stream disconnected" in (observer.error() or "")
