"""Smoke tests: the real Claude Code CLI against the scripted FakeAnthropic server.

They pin down the contract samoflow relies on: the CLI's Write tool lands files where the
"model" says, the stream-json result line parses, its ``usage`` equals the sum of the usage
the server reported for main-loop responses, and how it behaves on HTTP 429.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from samoflow.agents.claude_stream import ClaudeResult, StreamParser
from tests.support.claude_cli import claude_env, find_claude_binary
from tests.support.fake_anthropic import (
    WRITE_TOOL_NAME,
    FakeAnthropic,
    Reply,
    Script,
    Usage,
    error_reply,
    text_reply,
    write_file_reply,
)

CLAUDE = find_claude_binary()

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        CLAUDE is None,
        reason="Claude Code CLI not found (set SAMOFLOW_CLAUDE_BIN, or `npm install "
        "@anthropic-ai/claude-code` in the repo root, or put `claude` on PATH)",
    ),
]

# A cold start of the 2.1.x native binary plus three turns takes ~1 s; 120 s only bounds a
# hang (e.g. the CLI waiting on a network call we failed to disable).
DEADLINE_S = 120

SIGNAL = {"status": "continue", "phase": "investigation"}
OVERVIEW = "# Overview\n\nSmoke-test session written by the scripted model.\n"

# Distinct, non-round numbers per turn so a wrong summation (e.g. counting a turn twice,
# or taking only the last turn) cannot accidentally produce the expected total.
USAGES = (
    Usage(
        input_tokens=1203, output_tokens=57, cache_read_input_tokens=0,
        cache_creation_input_tokens=9011,
    ),
    Usage(
        input_tokens=31, output_tokens=88, cache_read_input_tokens=9011,
        cache_creation_input_tokens=412,
    ),
    Usage(
        input_tokens=7, output_tokens=5, cache_read_input_tokens=9423,
        cache_creation_input_tokens=96,
    ),
)  # fmt: skip


def _run_claude(
    fake: FakeAnthropic,
    tmp_path: Path,
    prompt: str,
    extra_env: dict[str, str] | None = None,
) -> tuple[subprocess.CompletedProcess[str], StreamParser]:
    assert CLAUDE is not None
    workdir = tmp_path / "work"
    workdir.mkdir(exist_ok=True)
    env = claude_env(fake.base_url, tmp_path / "home") | (extra_env or {})
    proc = subprocess.run(
        [
            str(CLAUDE),
            "-p",
            "--output-format",
            "stream-json",
            "--verbose",
            "--dangerously-skip-permissions",
            "--model",
            "claude-sonnet-4-5",
            "--max-turns",
            "10",
        ],
        input=prompt,
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=DEADLINE_S,
        check=False,
    )
    parser = StreamParser()
    for line in proc.stdout.splitlines():
        parser.feed(line)
    return proc, parser


def _tokens(result: ClaudeResult) -> Usage:
    return Usage(
        input_tokens=result.input_tokens,
        output_tokens=result.output_tokens,
        cache_read_input_tokens=result.cache_read_input_tokens,
        cache_creation_input_tokens=result.cache_creation_input_tokens,
    )


def _diagnostics(proc: subprocess.CompletedProcess[str], fake: FakeAnthropic) -> str:
    return (
        f"exit={proc.returncode}\nstdout tail:\n{proc.stdout[-3000:]}\n"
        f"stderr tail:\n{proc.stderr[-3000:]}\nscript_errors={fake.script_errors}"
    )


def test_claude_writes_scripted_files_and_reports_usage(tmp_path: Path) -> None:
    session = tmp_path / "session"
    session.mkdir()
    script: Script = [
        write_file_reply(session / "_overview.md", OVERVIEW, usage=USAGES[0]),
        write_file_reply(session / "_signal.json", json.dumps(SIGNAL), usage=USAGES[1]),
        text_reply("done", usage=USAGES[2]),
    ]
    with FakeAnthropic(script) as fake:
        proc, parser = _run_claude(
            fake, tmp_path, f"Write the session overview and signal files in {session}."
        )
    info = _diagnostics(proc, fake)

    assert proc.returncode == 0, info
    assert fake.script_errors == [], info
    assert (session / "_overview.md").read_text() == OVERVIEW
    assert json.loads((session / "_signal.json").read_text()) == SIGNAL

    # Every scripted reply was consumed by a main-loop request, and nothing else was sent:
    # CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 suppresses the title-generation side call.
    assert fake.main_calls == 3
    assert fake.side_calls == 0
    assert fake.count_tokens_calls == 0
    assert all(body.get("stream") is True for body in fake.main_requests)
    # write_file_reply's tool name/arguments must match the CLI's own advertised schema.
    write_tool = next(t for t in fake.main_requests[0]["tools"] if t["name"] == WRITE_TOOL_NAME)
    assert set(write_tool["input_schema"]["required"]) == {"file_path", "content"}

    result = parser.result
    assert result is not None, info
    assert result.is_error is False
    assert result.subtype == "success"
    assert result.result_text == "done"
    assert result.num_turns == 3
    # The CLI's usage is the plain sum over main-loop responses of the final (message_delta)
    # counts the server reported; the placeholder output_tokens in message_start is not added.
    assert len(fake.usage_reported) == 3
    assert _tokens(result) == fake.total_usage("main") == sum(USAGES, Usage())
    # modelUsage is the complete per-model bill (it would also hold sub-agent and side
    # calls); with neither in this run it equals the same sums.
    (model_usage,) = result.model_usage
    assert model_usage.model == "claude-sonnet-4-5"
    assert (
        model_usage.model_dump(exclude={"model", "cost_usd"}) == fake.total_usage(None).model_dump()
    )
    assert result.total_cost_usd > 0
    assert model_usage.cost_usd == result.total_cost_usd


def test_claude_retries_429_by_itself_and_does_not_count_it(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    replies = [
        write_file_reply(target, "x", usage=USAGES[0]),
        error_reply(429, retry_after=1),
        text_reply("done", usage=USAGES[2]),
    ]

    def script(body: dict[str, object], index: int) -> Reply:
        return replies[index]

    with FakeAnthropic(script) as fake:
        proc, parser = _run_claude(fake, tmp_path, "write out.txt")
    info = _diagnostics(proc, fake)

    assert proc.returncode == 0, info
    assert target.read_text() == "x"
    assert fake.main_calls == 3  # the retried request is a full resend of the same turn
    assert fake.main_requests[1]["messages"] == fake.main_requests[2]["messages"]
    assert parser.api_retries == 1
    result = parser.result
    assert result is not None, info
    assert result.is_error is False
    assert result.num_turns == 2
    assert _tokens(result) == USAGES[0] + USAGES[2]


def test_claude_gives_up_on_persistent_429(tmp_path: Path) -> None:
    # Default is 10 retries with max(retry-after, 0.5 s * 2^n capped at 32 s) between them
    # (~3 minutes); CLAUDE_CODE_MAX_RETRIES keeps this test short.
    def script(body: dict[str, object], index: int) -> Reply:
        return error_reply(429, retry_after=1, message="slow down")

    with FakeAnthropic(script) as fake:
        proc, parser = _run_claude(
            fake, tmp_path, "hello", extra_env={"CLAUDE_CODE_MAX_RETRIES": "1"}
        )
    info = _diagnostics(proc, fake)

    assert proc.returncode == 1, info
    assert fake.main_calls == 2  # first attempt + 1 retry
    assert parser.api_retries == 1
    result = parser.result
    assert result is not None, info
    assert result.is_error is True
    assert result.subtype == "success"  # sic: is_error/api_error_status carry the failure
    assert result.api_error_status == 429
    assert result.result_text == "API Error: Request rejected (429) · slow down"
    assert result.total_cost_usd == 0
