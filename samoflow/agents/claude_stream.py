"""Parser for Claude Code's ``--output-format stream-json --verbose`` stdout.

Owns: turning the CLI's newline-delimited JSON into (a) short, log-friendly events while the
agent runs and (b) one typed :class:`ClaudeResult` from the final ``result`` line. It is pure:
no subprocesses, no Prefect, no I/O - the caller feeds it lines.

Shape of the stream (observed with Claude Code 2.1.197):

* ``{"type":"system","subtype":"init",...}`` first; ``{"type":"system","subtype":"api_retry",
  "attempt":n,"max_retries":m,"retry_delay_ms":ms,"error_status":429,"error":"rate_limit"}``
  before each automatic retry of a failed API call.
* ``{"type":"assistant","message":{"content":[...text / tool_use / thinking blocks...]}}``
  one per model response. Its ``usage`` is a streaming snapshot (``output_tokens`` is the
  placeholder from ``message_start``), so token accounting must come from the result line.
* ``{"type":"user","message":{"content":[{"type":"tool_result",...}]}}`` for tool results.
* ``{"type":"result","subtype":"success"|"error_max_turns"|...,"is_error":bool,
  "api_error_status":int|null,"num_turns":n,"result":"<final text>","session_id":...,
  "total_cost_usd":x,"usage":{"input_tokens":..,"cache_creation_input_tokens":..,
  "cache_read_input_tokens":..,"output_tokens":..,...},"modelUsage":{...},...}`` last.
  ``usage`` is the plain sum of the final per-response counts over the *top-level* agent
  loop only (failed/retried requests add nothing). ``total_cost_usd`` and ``modelUsage``
  (per model, camelCase keys) also include sub-agents started with the Agent tool and
  auxiliary calls such as session-title generation, so they are the complete bill.
  ``is_error`` is authoritative: an API failure after retries still has
  ``subtype: "success"`` but ``is_error: true`` and ``api_error_status`` set, while
  ``error_max_turns`` has no ``result`` text but an ``errors`` list instead.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from samoflow.agents.claude_events import (
    clip,
    summarize_assistant,
    summarize_system,
    summarize_user,
)

# Enough to identify what the agent is doing in a log line without flooding the logs.

EventKind = Literal["system", "assistant", "user", "result", "other", "unparsable"]


class ModelUsage(BaseModel):
    """One entry of the result line's ``modelUsage`` (all calls made with that model)."""

    model_config = ConfigDict(frozen=True)

    model: str
    input_tokens: int
    output_tokens: int
    cache_read_input_tokens: int
    cache_creation_input_tokens: int
    cost_usd: float


class ClaudeResult(BaseModel):
    """What one ``claude -p`` run reported in its final ``result`` line."""

    model_config = ConfigDict(frozen=True)

    is_error: bool
    subtype: str | None
    total_cost_usd: float
    input_tokens: int
    output_tokens: int
    cache_read_input_tokens: int
    cache_creation_input_tokens: int
    num_turns: int | None
    session_id: str | None
    result_text: str | None
    # HTTP status of the API error that ended the run (e.g. 429 after retries), else None.
    api_error_status: int | None = None
    # "completed", "max_turns", ... - why the loop stopped (absent in older CLIs).
    terminal_reason: str | None = None
    # Set on error subtypes such as error_max_turns, which carry no ``result`` text.
    errors: tuple[str, ...] = ()
    # Complete per-model accounting, including sub-agents (the token fields above are the
    # top-level loop only); sum these when a budget must cover everything the run used.
    model_usage: tuple[ModelUsage, ...] = ()


class StreamEvent(BaseModel):
    """One parsed stdout line, reduced to what is worth logging."""

    model_config = ConfigDict(frozen=True)

    kind: EventKind
    subtype: str | None = None
    summary: str = ""


class _RawUsage(BaseModel):
    # Tolerant view of the result line: unknown keys ignored, missing counts are zero,
    # because the CLI adds fields (server_tool_use, iterations, ...) between releases.
    model_config = ConfigDict(extra="ignore")

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0


class _RawModelUsage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    # modelUsage uses camelCase keys, unlike the snake_case ``usage`` block beside it.
    input_tokens: int = Field(0, alias="inputTokens")
    output_tokens: int = Field(0, alias="outputTokens")
    cache_read_input_tokens: int = Field(0, alias="cacheReadInputTokens")
    cache_creation_input_tokens: int = Field(0, alias="cacheCreationInputTokens")
    cost_usd: float = Field(0.0, alias="costUSD")


class _RawResult(BaseModel):
    model_config = ConfigDict(extra="ignore")

    subtype: str | None = None
    is_error: bool = False
    total_cost_usd: float = 0.0
    usage: _RawUsage | None = None
    num_turns: int | None = None
    session_id: str | None = None
    result: str | None = None
    api_error_status: int | None = None
    terminal_reason: str | None = None
    errors: list[str] = Field(default_factory=list)
    model_usage: dict[str, _RawModelUsage] | None = Field(None, alias="modelUsage")


def _to_result(raw: _RawResult) -> ClaudeResult:
    usage = raw.usage or _RawUsage()
    return ClaudeResult(
        is_error=raw.is_error,
        subtype=raw.subtype,
        total_cost_usd=raw.total_cost_usd,
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cache_read_input_tokens=usage.cache_read_input_tokens,
        cache_creation_input_tokens=usage.cache_creation_input_tokens,
        num_turns=raw.num_turns,
        session_id=raw.session_id,
        result_text=raw.result,
        api_error_status=raw.api_error_status,
        terminal_reason=raw.terminal_reason,
        errors=tuple(raw.errors),
        model_usage=tuple(
            ModelUsage(model=name, **mu.model_dump())
            for name, mu in (raw.model_usage or {}).items()
        ),
    )


class StreamParser:
    """Feed stdout lines one by one; read :attr:`result` once the run is over.

    Never raises on input: the CLI may print non-JSON (warnings, a crash trace) to stdout,
    and a logging helper must not kill the task that is supervising the agent.
    """

    def __init__(self, on_object: Callable[[dict[str, Any]], None] | None = None) -> None:
        self._result: ClaudeResult | None = None
        self._api_retries = 0
        # Watchers of events this parser does not model (rate limits, context use).
        self._on_object = on_object
        self._assistant_error: str | None = None

    @property
    def result(self) -> ClaudeResult | None:
        """The parsed ``result`` line, or None if it has not arrived (yet)."""
        return self._result

    @property
    def assistant_error(self) -> str | None:
        """The `error` of the CLI's synthetic assistant message (`authentication_failed`,
        `model_not_found`, `rate_limit`, ...): why it answered without the model."""
        return self._assistant_error

    @property
    def api_retries(self) -> int:
        """How many ``system/api_retry`` lines were seen (the CLI's own API retries)."""
        return self._api_retries

    def feed(self, line: str) -> StreamEvent | None:
        """Parse one line; None for blank lines."""
        stripped = line.strip()
        if not stripped:
            return None
        try:
            obj = json.loads(stripped)
        except ValueError:  # JSONDecodeError, or a number too large, etc.
            return StreamEvent(kind="unparsable", summary=clip(stripped))
        if not isinstance(obj, dict):
            return StreamEvent(kind="unparsable", summary=clip(stripped))
        if self._on_object is not None:
            self._on_object(obj)
        etype = obj.get("type")
        raw_subtype = obj.get("subtype")
        subtype = raw_subtype if isinstance(raw_subtype, str) else None
        if etype == "system":
            if subtype == "api_retry":
                self._api_retries += 1
            return StreamEvent(
                kind="system", subtype=subtype, summary=summarize_system(obj, subtype)
            )
        if etype == "assistant":
            if isinstance(obj.get("error"), str):
                self._assistant_error = obj["error"]
            return StreamEvent(kind="assistant", summary=summarize_assistant(obj))
        if etype == "user":
            return StreamEvent(kind="user", summary=summarize_user(obj))
        if etype == "result":
            try:
                result = _to_result(_RawResult.model_validate(obj))
            except ValidationError as exc:
                return StreamEvent(
                    kind="unparsable",
                    subtype=subtype,
                    summary=clip(f"bad result line ({exc.error_count()} errors): {stripped}"),
                )
            self._result = result
            return StreamEvent(
                kind="result",
                subtype=subtype,
                summary=clip(
                    f"{subtype} is_error={result.is_error} turns={result.num_turns} "
                    f"cost=${result.total_cost_usd:.4f} "
                    f"api_error_status={result.api_error_status}"
                ),
            )
        return StreamEvent(kind="other", subtype=subtype, summary=clip(str(etype)))
