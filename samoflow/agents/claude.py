"""The `claude` agent: the Claude Code CLI in print mode with stream-json output."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from samoflow.agents.base import AgentRequest, OutputObserver
from samoflow.agents.claude_context import ContextWatch
from samoflow.agents.claude_stream import StreamParser
from samoflow.agents.environment import agent_environment
from samoflow.economy.rate_limit import RateLimit, from_text
from samoflow.economy.reset_times import from_event
from samoflow.session.history import Usage
from samoflow.settings import get_settings


class ClaudeObserver:
    """Parses stream-json as it arrives; the `result` line carries usage and cost."""

    def __init__(self, window_tokens: int = 200_000, handoff_fraction: float | None = None) -> None:
        self._context = ContextWatch(window_tokens, handoff_fraction)
        self._parser = StreamParser(on_object=self._watch)
        # The last `rate_limit_event` that said "rejected": (resetsAt, rateLimitType).
        self._rejected: tuple[datetime | None, str | None] | None = None

    def _watch(self, obj: dict[str, Any]) -> None:
        self._context.feed(obj)
        event = from_event(obj)
        if event is not None:
            status, resets_at, window = event
            self._rejected = (resets_at, window) if status == "rejected" else None

    def feed(self, line: str) -> None:
        self._parser.feed(line)

    def usage(self) -> Usage:
        result = self._parser.result
        if result is None:
            return Usage()
        return Usage(
            input_tokens=result.input_tokens,
            output_tokens=result.output_tokens,
            cache_read_input_tokens=result.cache_read_input_tokens,
            cache_creation_input_tokens=result.cache_creation_input_tokens,
            cost_usd=result.total_cost_usd,
        )

    def rate_limit(self, failed: bool) -> RateLimit | None:
        """A 429 in the result line, or a rejected `rate_limit_event` in a failed run."""
        result = self._parser.result
        limited_429 = result is not None and result.api_error_status == 429
        rejected = self._rejected is not None and (result is None or result.is_error or failed)
        if not (limited_429 or rejected):
            return None
        limit = from_text((result.result_text if result else None) or "usage limit (rejected)")
        if self._rejected is None:
            return limit
        resets_at, window = self._rejected  # the event's epoch beats the text's "3:47pm"
        return limit.model_copy(
            update={"resets_at": resets_at or limit.resets_at, "window": window}
        )

    def context(self) -> ContextWatch:
        return self._context

    def unhealable(self) -> str | None:
        result = self._parser.result
        if result is None or not result.is_error:
            return None
        return unhealable_error(
            self._parser.assistant_error, result.api_error_status, result.result_text or ""
        )

    def error(self) -> str | None:
        result = self._parser.result
        if result is None or not result.is_error:
            return None
        detail = (result.result_text or "").strip()[:300]
        return f"claude reported an error ({result.subtype or 'error'}): {detail}"


KEY_FIX = (
    "give samoflow an API key (an AgentConfig block named by --agent-block or "
    "SAMOFLOW_AGENT_BLOCK, or ANTHROPIC_API_KEY where the worker runs) or run `claude` once and "
    "`/login` as the user that runs samoflow; then resume the session"
)


def unhealable_error(kind: str | None, status: int | None, text: str) -> str | None:
    """Errors Claude Code reports that no retry heals (seen with 2.1: the synthetic assistant
    message's `error` and the result's `api_error_status`), each with its fix."""
    said = " ".join(text.split())[:200]
    if "not logged in" in said.lower():
        return f"claude is not logged in ({said}): {KEY_FIX}"
    if kind == "authentication_failed" or status in (401, 403):
        return f"the API refused the key (HTTP {status or 401}: {said}): {KEY_FIX}"
    if kind == "model_not_found" or status == 404:
        return (
            f"the model is unknown or not available to this key ({said}): pick another with "
            "--model (or the AgentConfig block's model); then resume the session"
        )
    return None


def find_claude(explicit: str | None = None) -> str:
    """--agent-command, else the claude_bin setting (SAMOFLOW_CLAUDE_BIN), else PATH."""
    candidate = explicit or get_settings().claude_bin
    if candidate:
        if shutil.which(candidate) is None:  # a path must be an executable file
            raise FileNotFoundError(f"the claude binary {candidate!r} is missing or not executable")
        return candidate
    found = shutil.which("claude")
    if found is None:
        raise FileNotFoundError(
            "no claude binary was found (--agent-command, SAMOFLOW_CLAUDE_BIN, PATH): "
            "`npm install -g @anthropic-ai/claude-code`, or pass its path with --agent-command"
        )
    return found


@dataclass
class ClaudeAgent:
    binary: str
    model: str | None = None
    max_turns: int = 300
    extra_env: dict[str, str] = field(default_factory=dict)
    context_window_tokens: int = 200_000
    context_handoff_fraction: float | None = None
    name: str = "claude"

    def command(self, request: AgentRequest) -> list[str]:
        argv = [
            self.binary,
            "-p",
            "--output-format",
            "stream-json",
            "--verbose",
            "--append-system-prompt",
            request.instructions,
            "--dangerously-skip-permissions",
            "--max-turns",
            str(self.max_turns),
        ]
        if self.model:
            argv += ["--model", self.model]
        return argv

    def environment(self, request: AgentRequest) -> dict[str, str]:
        # IS_SANDBOX lets the CLI skip permissions as root (containers, CI).
        return {**agent_environment(request), "IS_SANDBOX": "1", **self.extra_env}

    def stdin_text(self, request: AgentRequest) -> str | None:
        return request.prompt

    def observer(self) -> OutputObserver:
        return ClaudeObserver(self.context_window_tokens, self.context_handoff_fraction)
