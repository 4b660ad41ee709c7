"""Context watch: context use from each assistant message, the window, compactions, state."""

from __future__ import annotations

import json
from typing import Any

from samoflow.agents.claude import ClaudeObserver


def assistant(blocks: list[dict[str, Any]], cache_read: int, parent: str | None = None) -> str:
    usage = {
        "input_tokens": 10,
        "cache_read_input_tokens": cache_read,
        "cache_creation_input_tokens": 500,
        "output_tokens": 1,
    }
    message = {"role": "assistant", "content": blocks, "usage": usage}
    return json.dumps({"type": "assistant", "message": message, "parent_tool_use_id": parent})


TODOS = [{"content": "write greet.py", "status": "in_progress", "activeForm": "Writing"}]
TOOL_RESULT = json.dumps(
    {
        "type": "user",
        "message": {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "t", "content": "ok"}],
        },
        "parent_tool_use_id": None,
    }
)


def test_peak_context_is_the_input_side_of_the_fullest_main_agent_message() -> None:
    observer = ClaudeObserver(window_tokens=200_000)
    observer.feed(assistant([{"type": "text", "text": "looking"}], 1_000))
    observer.feed(assistant([{"type": "text", "text": "sub"}], 150_000, parent="toolu_1"))
    observer.feed(assistant([{"type": "text", "text": "more"}], 40_000))
    observer.feed(
        '{"type":"system","subtype":"compact_boundary","compact_metadata":'
        '{"trigger":"auto","pre_tokens":167000}}'
    )
    observer.feed(
        json.dumps(
            {
                "type": "result",
                "subtype": "success",
                "is_error": False,
                "modelUsage": {"claude-sonnet-4-5": {"contextWindow": 200000}},
                "usage": {"input_tokens": 999999},
            }
        )
    )
    report = observer.context().report()
    assert report.peak_tokens == 40_510 and report.window_tokens == 200_000
    assert report.compactions == 1 and not report.ended_for_handoff


def test_crossing_the_fraction_ends_at_the_next_turn_boundary_with_the_state() -> None:
    observer = ClaudeObserver(window_tokens=100_000, handoff_fraction=0.5)
    watch = observer.context()
    observer.feed(
        assistant([{"type": "tool_use", "name": "TodoWrite", "input": {"todos": TODOS}}], 1_000)
    )
    observer.feed(TOOL_RESULT)
    assert not watch.end_now
    observer.feed(
        assistant(
            [
                {"type": "text", "text": "writing the greeting"},
                {
                    "type": "tool_use",
                    "name": "Write",
                    "input": {"file_path": "/w/greet.py", "content": ""},
                },
                {"type": "tool_use", "name": "Bash", "input": {"command": "git commit -qm greet"}},
            ],
            60_000,
        )
    )
    assert watch.crossed and not watch.end_now  # mid-turn: its tools still run
    observer.feed(TOOL_RESULT)
    assert watch.end_now
    state = watch.handoff_state()
    assert state["todos"] == TODOS and state["last_text"] == "writing the greeting"
    assert state["files_touched"] == ["/w/greet.py"] and state["commits"] == [
        "git commit -qm greet"
    ]


def test_without_the_setting_nothing_is_ended() -> None:
    observer = ClaudeObserver(window_tokens=100_000)
    observer.feed(assistant([{"type": "text", "text": "x"}], 99_000))
    observer.feed(TOOL_RESULT)
    assert not observer.context().end_now
