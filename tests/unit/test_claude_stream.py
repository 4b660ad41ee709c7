"""Unit tests for samoflow.agents.claude_stream, on lines captured from Claude Code 2.1.197.

The fixtures below are verbatim stdout lines of ``claude -p --output-format stream-json
--verbose`` run against tests/support/fake_anthropic.py (Write tool call, a 429 retried
once, final text), plus the result lines of a run that gave up on a 429 and one that hit
``--max-turns 3``.
"""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from samoflow.agents.claude_events import SUMMARY_CHARS
from samoflow.agents.claude_stream import ClaudeResult, ModelUsage, StreamParser

# fmt: off
INIT_LINE = r'{"type":"system","subtype":"init","cwd":"/tmp/sfexp6dc1cdgl/cwd","session_id":"d1315f71-f3f4-4e62-806d-385df9e362b7","tools":["Task","Bash","CronCreate","CronDelete","CronList","Edit","EnterWorktree","ExitWorktree","NotebookEdit","Read","ReportFindings","ScheduleWakeup","SendMessage","Skill","TaskCreate","TaskGet","TaskList","TaskOutput","TaskStop","TaskUpdate","WebFetch","WebSearch","Workflow","Write"],"mcp_servers":[],"model":"claude-sonnet-4-5","permissionMode":"bypassPermissions","slash_commands":["deep-research","update-config","verify","debug","code-review","simplify","batch","fewer-permission-prompts","loop","claude-api","run","run-skill-generator","clear","compact","config","context","heapdump","init","reload-skills","review","security-review","usage","insights","goal","team-onboarding"],"apiKeySource":"ANTHROPIC_API_KEY","claude_code_version":"2.1.197","output_style":"default","agents":["claude","Explore","general-purpose","Plan","statusline-setup"],"skills":["deep-research","update-config","verify","debug","code-review","simplify","batch","fewer-permission-prompts","loop","claude-api","run","run-skill-generator"],"plugins":[],"analytics_disabled":true,"product_feedback_disabled":true,"uuid":"65089a25-48b7-4e57-88c7-22f44d277fd8","memory_paths":{"auto":"/tmp/sfexp6dc1cdgl/home/.claude/projects/-tmp-sfexp6dc1cdgl-cwd/memory/"},"fast_mode_state":"off"}'  # noqa: E501
ASSISTANT_TOOL_USE_LINE = r'{"type":"assistant","message":{"id":"msg_fake000002","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[{"type":"tool_use","id":"toolu_fake000003","name":"Write","input":{"file_path":"/tmp/s/_overview.md","content":"# Overview\n"}}],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":100,"output_tokens":1,"cache_read_input_tokens":1000,"cache_creation_input_tokens":50},"context_management":null},"parent_tool_use_id":null,"session_id":"d1315f71-f3f4-4e62-806d-385df9e362b7","uuid":"c0854219-e71b-4c86-bcc3-6ac0cd676283","request_id":"req_fake000001"}'  # noqa: E501
USER_TOOL_RESULT_LINE = r'{"type":"user","message":{"role":"user","content":[{"tool_use_id":"toolu_fake000003","type":"tool_result","content":"File created successfully at: /tmp/s/_overview.md (file state is current in your context — no need to Read it back)"}]},"parent_tool_use_id":null,"session_id":"d1315f71-f3f4-4e62-806d-385df9e362b7","uuid":"93dd5a79-3289-4629-b2a4-f61a29d20ff7","timestamp":"2026-11-25T13:04:47.241Z","tool_use_result":{"type":"create","filePath":"/tmp/s/_overview.md","content":"# Overview\n","structuredPatch":[],"originalFile":null,"userModified":false}}'  # noqa: E501
API_RETRY_LINE = r'{"type":"system","subtype":"api_retry","attempt":1,"max_retries":10,"retry_delay_ms":1000,"error_status":429,"error":"rate_limit","session_id":"d1315f71-f3f4-4e62-806d-385df9e362b7","uuid":"f23231b2-81bf-463f-aeb4-322c89441f2e"}'  # noqa: E501
ASSISTANT_TEXT_LINE = r'{"type":"assistant","message":{"id":"msg_fake000006","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[{"type":"text","text":"done"}],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":300,"output_tokens":1,"cache_read_input_tokens":3000,"cache_creation_input_tokens":70},"context_management":null},"parent_tool_use_id":null,"session_id":"d1315f71-f3f4-4e62-806d-385df9e362b7","uuid":"4698f639-8ab3-4f3f-801b-277defc11c2e","request_id":"req_fake000005"}'  # noqa: E501
RESULT_SUCCESS_LINE = r'{"type":"result","subtype":"success","is_error":false,"api_error_status":null,"duration_ms":1126,"duration_api_ms":1050,"ttft_ms":74,"ttft_stream_ms":72,"time_to_request_ms":61,"num_turns":2,"result":"done","stop_reason":"end_turn","session_id":"d1315f71-f3f4-4e62-806d-385df9e362b7","total_cost_usd":0.0037500000000000003,"usage":{"input_tokens":400,"cache_creation_input_tokens":120,"cache_read_input_tokens":4000,"output_tokens":60,"server_tool_use":{"web_search_requests":0,"web_fetch_requests":0},"service_tier":"standard","cache_creation":{"ephemeral_1h_input_tokens":0,"ephemeral_5m_input_tokens":0},"inference_geo":"","iterations":[],"speed":"standard"},"modelUsage":{"claude-sonnet-4-5":{"inputTokens":400,"outputTokens":60,"cacheReadInputTokens":4000,"cacheCreationInputTokens":120,"webSearchRequests":0,"costUSD":0.0037500000000000003,"contextWindow":200000,"maxOutputTokens":32000}},"permission_denials":[],"terminal_reason":"completed","fast_mode_state":"off","uuid":"45166b02-977a-462d-8b94-10541aa2f723"}'  # noqa: E501
ASSISTANT_API_ERROR_LINE = r'{"type":"assistant","message":{"id":"02c21a28-4de9-4f5d-9687-ad1f68baea74","container":null,"model":"<synthetic>","role":"assistant","stop_details":null,"stop_reason":"stop_sequence","stop_sequence":"","type":"message","usage":{"input_tokens":0,"output_tokens":0,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"server_tool_use":{"web_search_requests":0,"web_fetch_requests":0},"service_tier":null,"cache_creation":{"ephemeral_1h_input_tokens":0,"ephemeral_5m_input_tokens":0},"inference_geo":null,"iterations":null,"speed":null},"content":[{"type":"text","text":"API Error: Request rejected (429) · scripted error"}],"context_management":null},"parent_tool_use_id":null,"session_id":"a61a87b0-b32a-417c-aa81-750281d4ee78","uuid":"3d61e36c-307a-4be8-9cfd-ebc529e953bd","error":"rate_limit","request_id":"req_fake000001"}'  # noqa: E501
RESULT_429_LINE = r'{"type":"result","subtype":"success","is_error":true,"api_error_status":429,"duration_ms":386,"duration_api_ms":0,"num_turns":1,"result":"API Error: Request rejected (429) · scripted error","stop_reason":"stop_sequence","session_id":"a61a87b0-b32a-417c-aa81-750281d4ee78","total_cost_usd":0,"usage":{"input_tokens":0,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":0,"server_tool_use":{"web_search_requests":0,"web_fetch_requests":0},"service_tier":"standard","cache_creation":{"ephemeral_1h_input_tokens":0,"ephemeral_5m_input_tokens":0},"inference_geo":"","iterations":[],"speed":"standard"},"modelUsage":{},"permission_denials":[],"terminal_reason":"completed","fast_mode_state":"off","uuid":"4f1f5f22-6033-4cfd-a6c9-9a885032f2a2"}'  # noqa: E501
RESULT_MAX_TURNS_LINE = r'{"type":"result","subtype":"error_max_turns","duration_ms":191,"duration_api_ms":71,"is_error":true,"num_turns":4,"stop_reason":"tool_use","session_id":"5b33134f-6b9e-4864-b194-600a635ebbff","total_cost_usd":0.00032835000000000004,"usage":{"input_tokens":30,"cache_creation_input_tokens":3,"cache_read_input_tokens":7,"output_tokens":15,"server_tool_use":{"web_search_requests":0,"web_fetch_requests":0},"service_tier":"standard","cache_creation":{"ephemeral_1h_input_tokens":0,"ephemeral_5m_input_tokens":0},"inference_geo":"","iterations":[],"speed":"standard"},"modelUsage":{"claude-sonnet-4-5":{"inputTokens":30,"outputTokens":15,"cacheReadInputTokens":7,"cacheCreationInputTokens":3,"webSearchRequests":0,"costUSD":0.00032835000000000004,"contextWindow":200000,"maxOutputTokens":32000}},"permission_denials":[],"terminal_reason":"max_turns","fast_mode_state":"off","uuid":"9cc34c41-c087-44b6-bfcc-d232feb74cd7","errors":["Reached maximum number of turns (3)"]}'  # noqa: E501
# Top level: Agent tool call (11/12/13/14 tokens) + final text (21/22/23/24); the sub-agent's
# one turn reported 1000/2000/3000/4000.
RESULT_WITH_SUBAGENT_LINE = r'{"type":"result","subtype":"success","is_error":false,"api_error_status":null,"duration_ms":153,"duration_api_ms":70,"ttft_ms":92,"ttft_stream_ms":90,"time_to_request_ms":80,"num_turns":2,"result":"done","stop_reason":"end_turn","session_id":"b6be906a-649f-4552-842b-8fd18b4411ba","total_cost_usd":0.0496593,"usage":{"input_tokens":32,"cache_creation_input_tokens":38,"cache_read_input_tokens":36,"output_tokens":34,"server_tool_use":{"web_search_requests":0,"web_fetch_requests":0},"service_tier":"standard","cache_creation":{"ephemeral_1h_input_tokens":0,"ephemeral_5m_input_tokens":0},"inference_geo":"","iterations":[],"speed":"standard"},"modelUsage":{"claude-sonnet-4-5":{"inputTokens":1032,"outputTokens":2034,"cacheReadInputTokens":3036,"cacheCreationInputTokens":4038,"webSearchRequests":0,"costUSD":0.0496593,"contextWindow":200000,"maxOutputTokens":32000}},"permission_denials":[],"terminal_reason":"completed","fast_mode_state":"off","uuid":"518913b4-54b7-46b3-b856-536ed759153c"}'  # noqa: E501
# fmt: on

CAPTURED_RUN = [
    INIT_LINE,
    ASSISTANT_TOOL_USE_LINE,
    USER_TOOL_RESULT_LINE,
    API_RETRY_LINE,
    ASSISTANT_TEXT_LINE,
    RESULT_SUCCESS_LINE,
]


def test_fixtures_are_valid_json() -> None:
    others = [
        ASSISTANT_API_ERROR_LINE,
        RESULT_429_LINE,
        RESULT_MAX_TURNS_LINE,
        RESULT_WITH_SUBAGENT_LINE,
    ]
    for line in [*CAPTURED_RUN, *others]:
        assert isinstance(json.loads(line), dict)


def test_full_captured_run() -> None:
    parser = StreamParser()
    events = [parser.feed(line) for line in CAPTURED_RUN]
    kinds = [e.kind for e in events if e is not None]
    assert kinds == ["system", "assistant", "user", "system", "assistant", "result"]
    assert parser.api_retries == 1
    assert parser.result == ClaudeResult(
        is_error=False,
        subtype="success",
        total_cost_usd=0.0037500000000000003,
        input_tokens=400,
        output_tokens=60,
        cache_read_input_tokens=4000,
        cache_creation_input_tokens=120,
        num_turns=2,
        session_id="d1315f71-f3f4-4e62-806d-385df9e362b7",
        result_text="done",
        api_error_status=None,
        terminal_reason="completed",
        errors=(),
        model_usage=(
            ModelUsage(
                model="claude-sonnet-4-5",
                input_tokens=400,
                output_tokens=60,
                cache_read_input_tokens=4000,
                cache_creation_input_tokens=120,
                cost_usd=0.0037500000000000003,
            ),
        ),
    )


def test_result_is_none_until_result_line() -> None:
    parser = StreamParser()
    for line in CAPTURED_RUN[:-1]:
        parser.feed(line)
    assert parser.result is None


def test_init_summary() -> None:
    event = StreamParser().feed(INIT_LINE)
    assert event is not None
    assert event.kind == "system"
    assert event.subtype == "init"
    assert "model=claude-sonnet-4-5" in event.summary
    assert "version=2.1.197" in event.summary


def test_tool_use_summary_names_tool_and_target() -> None:
    event = StreamParser().feed(ASSISTANT_TOOL_USE_LINE)
    assert event is not None
    assert event.kind == "assistant"
    assert event.summary == "Write(/tmp/s/_overview.md)"


def test_tool_result_summary() -> None:
    event = StreamParser().feed(USER_TOOL_RESULT_LINE)
    assert event is not None
    assert event.kind == "user"
    assert event.summary.startswith(
        "tool_result: File created successfully at: /tmp/s/_overview.md"
    )


def test_text_summary() -> None:
    event = StreamParser().feed(ASSISTANT_TEXT_LINE)
    assert event is not None
    assert (event.kind, event.summary) == ("assistant", "done")


def test_api_retry_event() -> None:
    parser = StreamParser()
    event = parser.feed(API_RETRY_LINE)
    assert event is not None
    assert event.subtype == "api_retry"
    assert "attempt 1/10" in event.summary
    assert "status=429" in event.summary
    assert parser.api_retries == 1


def test_rate_limited_give_up() -> None:
    # After exhausting retries the CLI emits a synthetic assistant message with "error"
    # and a result with subtype "success" but is_error true: is_error is what counts.
    parser = StreamParser()
    event = parser.feed(ASSISTANT_API_ERROR_LINE)
    assert event is not None
    assert event.summary.startswith("error=rate_limit | API Error: Request rejected (429)")
    parser.feed(RESULT_429_LINE)
    result = parser.result
    assert result is not None
    assert result.is_error is True
    assert result.subtype == "success"
    assert result.api_error_status == 429
    assert result.total_cost_usd == 0
    assert result.input_tokens == result.output_tokens == 0
    assert result.result_text == "API Error: Request rejected (429) · scripted error"


def test_max_turns_result() -> None:
    parser = StreamParser()
    parser.feed(RESULT_MAX_TURNS_LINE)
    result = parser.result
    assert result is not None
    assert result.is_error is True
    assert result.subtype == "error_max_turns"
    assert result.result_text is None  # this subtype has no "result" key
    assert result.errors == ("Reached maximum number of turns (3)",)
    assert result.terminal_reason == "max_turns"
    assert (result.input_tokens, result.output_tokens) == (30, 15)


@pytest.mark.parametrize(
    "line",
    [
        "not json at all",
        "{truncated",
        "[1, 2, 3]",
        '"a string"',
        "12345",
        "Error: something went wrong\n",
    ],
)
def test_non_json_lines_do_not_raise(line: str) -> None:
    parser = StreamParser()
    event = parser.feed(line)
    assert event is not None
    assert event.kind == "unparsable"
    assert parser.result is None


@pytest.mark.parametrize("line", ["", "   ", "\n", "\r\n"])
def test_blank_lines_yield_nothing(line: str) -> None:
    assert StreamParser().feed(line) is None


def test_unknown_type_is_other() -> None:
    event = StreamParser().feed('{"type":"stream_event","event":{}}')
    assert event is not None
    assert (event.kind, event.summary) == ("other", "stream_event")


def test_malformed_result_does_not_raise_or_set_result() -> None:
    parser = StreamParser()
    event = parser.feed('{"type":"result","is_error":"definitely","usage":{"input_tokens":"x"}}')
    assert event is not None
    assert event.kind == "unparsable"
    assert parser.result is None


def test_result_with_missing_usage_defaults_to_zero() -> None:
    parser = StreamParser()
    parser.feed('{"type":"result","subtype":"success","is_error":false,"usage":null}')
    result = parser.result
    assert result is not None
    assert result.input_tokens == result.cache_read_input_tokens == 0
    assert result.total_cost_usd == 0.0
    assert result.num_turns is None


def test_summary_is_clipped_to_one_line() -> None:
    text = "word " * 500 + "\nsecond line"
    line = json.dumps(
        {"type": "assistant", "message": {"content": [{"type": "text", "text": text}]}}
    )
    event = StreamParser().feed(line)
    assert event is not None
    assert len(event.summary) == SUMMARY_CHARS
    assert "\n" not in event.summary


def test_result_is_frozen() -> None:
    parser = StreamParser()
    parser.feed(RESULT_SUCCESS_LINE)
    result = parser.result
    assert result is not None
    with pytest.raises(ValidationError):  # frozen model
        result.is_error = True  # type: ignore[misc]


def test_usage_is_top_level_only_model_usage_includes_subagents() -> None:
    parser = StreamParser()
    parser.feed(RESULT_WITH_SUBAGENT_LINE)
    result = parser.result
    assert result is not None
    assert (result.input_tokens, result.output_tokens) == (11 + 21, 12 + 22)
    assert (result.cache_read_input_tokens, result.cache_creation_input_tokens) == (36, 38)
    (sonnet,) = result.model_usage
    assert sonnet.model == "claude-sonnet-4-5"
    assert (sonnet.input_tokens, sonnet.output_tokens) == (1032, 2034)
    assert (sonnet.cache_read_input_tokens, sonnet.cache_creation_input_tokens) == (3036, 4038)
    assert sonnet.cost_usd == result.total_cost_usd


def test_429_result_has_no_model_usage() -> None:
    parser = StreamParser()
    parser.feed(RESULT_429_LINE)
    assert parser.result is not None
    assert parser.result.model_usage == ()
