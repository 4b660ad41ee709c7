"""A scripted, in-process stand-in for the Anthropic Messages API.

Owns: an HTTP server on 127.0.0.1 that the real Claude Code CLI can be pointed at
(``ANTHROPIC_BASE_URL``) so end-to-end tests can drive the binary turn by turn without
network access. The test supplies a *script* (a list of :class:`Reply` or a callable) that
decides what the "model" answers on each main-loop turn; the server records every request
and every usage block it reported so tests can compare them with what the CLI summed.

What Claude Code 2.1.x actually sends (observed with a logging server, see the smoke test):

* ``HEAD /`` once at start-up (a connectivity probe) -> answered 200 with an empty body.
* ``POST /v1/messages?beta=true`` with ``"stream": true`` for each turn of the agent loop.
  Those bodies always carry the full ``tools`` list (Write, Edit, Bash, ...).
* Unless ``CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1`` is set, a session-title request,
  concurrently with the first turn: also ``POST /v1/messages`` (same model, streamed) but
  with ``"tools": []``, ``thinking`` disabled and ``output_config.format`` a JSON schema
  ``{"title": string}``. Whether it finishes before the CLI exits is a race.
* ``POST /v1/messages/count_tokens`` is not used by ``-p`` runs we observed; answered with
  ``{"input_tokens": N}`` anyway. Other paths -> 404 JSON error.

Main-loop vs side request: a ``/v1/messages`` request is "main" iff its body has a non-empty
``tools`` array (every agent-loop turn carries the ~25 built-in tools; the title call sends
an empty list). Side requests go to ``side_script`` and never consume the main script, so a
CLI version that adds auxiliary calls cannot shift the scripted conversation. Sub-agents
started through the ``Agent`` tool do send tools (verified), so they *do* consume scripted
replies, in request order - tests that script an Agent call must script its turns too.

Usage: each streamed reply reports the input-side counts and ``output_tokens: 1`` in
``message_start`` and the final counts in ``message_delta`` (like the real API); the CLI
takes the final counts, so ``usage_reported`` holds exactly what it should sum.
"""

from __future__ import annotations

import itertools
import json
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field


class Usage(BaseModel):
    """Token counts reported for one response (the four fields Claude Code sums)."""

    model_config = ConfigDict(frozen=True)

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cache_read_input_tokens=self.cache_read_input_tokens + other.cache_read_input_tokens,
            cache_creation_input_tokens=self.cache_creation_input_tokens
            + other.cache_creation_input_tokens,
        )


DEFAULT_USAGE = Usage(input_tokens=100, output_tokens=20)


class ToolUse(BaseModel):
    """One ``tool_use`` content block the fake model emits."""

    model_config = ConfigDict(frozen=True)

    name: str
    input: dict[str, Any] = Field(default_factory=dict)
    # None -> a unique id is generated when the reply is rendered.
    id: str | None = None


class HttpError(BaseModel):
    """Answer the request with an HTTP error instead of a message."""

    model_config = ConfigDict(frozen=True)

    status: int
    # Sent as the ``retry-after`` header (seconds) when set.
    retry_after: float | None = None
    error_type: str | None = None  # derived from status when None
    # Sent as ``x-should-retry`` when set; None -> header omitted (client decides by status).
    should_retry: bool | None = None
    message: str = "scripted error from FakeAnthropic"
    headers: dict[str, str] = Field(default_factory=dict)  # sent as they are


class Reply(BaseModel):
    """One scripted model turn: optional text, zero or more tool uses, usage to report.

    ``stop_reason`` is derived: ``tool_use`` when ``tool_uses`` is non-empty, else
    ``end_turn``. When ``error`` is set the rest is ignored and an HTTP error is sent.
    """

    model_config = ConfigDict(frozen=True)

    text: str | None = None
    tool_uses: tuple[ToolUse, ...] = ()
    usage: Usage = DEFAULT_USAGE
    error: HttpError | None = None

    @property
    def stop_reason(self) -> str:
        return "tool_use" if self.tool_uses else "end_turn"


ScriptFn = Callable[[dict[str, Any], int], Reply]
Script = ScriptFn | Sequence[Reply]
SideFn = Callable[[dict[str, Any]], Reply]


def text_reply(text: str, usage: Usage = DEFAULT_USAGE) -> Reply:
    """A final assistant message (``stop_reason: end_turn``)."""
    return Reply(text=text, usage=usage)


def tool_reply(name: str, tool_input: dict[str, Any], usage: Usage = DEFAULT_USAGE) -> Reply:
    return Reply(tool_uses=(ToolUse(name=name, input=tool_input),), usage=usage)


# Claude Code's file-writing tool, as advertised in the request's ``tools`` array (2.1.197):
# name "Write", input {"file_path": <absolute path>, "content": <str>}, both required,
# additionalProperties false. The CLI rejects relative paths, hence str() of an absolute one.
WRITE_TOOL_NAME = "Write"


def write_file_reply(path: Any, content: str, usage: Usage = DEFAULT_USAGE) -> Reply:
    """A turn in which the model calls ``Write`` to create ``path`` (must be absolute)."""
    return tool_reply(WRITE_TOOL_NAME, {"file_path": str(path), "content": content}, usage)


# What the API answers a subscription (OAuth) account over its usage limit, as Claude Code
# 2.1.197 reads it: with these headers it prints a `rate_limit_event` (status rejected,
# resetsAt, rateLimitType) and "You've hit your session limit · resets 3:47pm (UTC)".
RATE_LIMIT_MESSAGE = "This request would exceed your account's rate limit. Please try again later."


def usage_limit_reply(resets_at: int, window: str = "five_hour") -> Reply:
    headers = {
        "anthropic-ratelimit-unified-status": "rejected",
        "anthropic-ratelimit-unified-reset": str(resets_at),
        "anthropic-ratelimit-unified-representative-claim": window,
    }
    return Reply(error=HttpError(status=429, message=RATE_LIMIT_MESSAGE, headers=headers))


def error_reply(
    status: int, retry_after: float | None = None, message: str = "scripted error"
) -> Reply:
    return Reply(error=HttpError(status=status, retry_after=retry_after, message=message))


_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


@dataclass(frozen=True)
class Exchange:
    """One ``POST /v1/messages`` request and what the fake answered."""

    role: Literal["main", "side"]
    call_index: int  # index among requests of the same role
    body: dict[str, Any]
    status: int
    usage: Usage | None  # None when an HTTP error was sent
    at: float = 0.0  # time.time() when the request arrived


def _json_for_schema(schema: Any) -> Any:
    """A minimal value satisfying a (simple) JSON schema, for structured-output side calls."""
    if not isinstance(schema, dict):
        return None
    kind = schema.get("type")
    if kind == "object":
        props = schema.get("properties") or {}
        return {name: _json_for_schema(props.get(name)) for name in schema.get("required", [])}
    if kind == "array":
        return []
    if kind == "string":
        return "Fake session"
    if kind in ("integer", "number"):
        return 0
    if kind == "boolean":
        return False
    return None


def default_side_reply(body: dict[str, Any]) -> Reply:
    """Answer for tool-less auxiliary calls, with zero usage.

    Observed side call (only without CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC): session-title
    generation, ``"tools": []``, ``output_config.format`` = JSON schema ``{"title": str}``.
    We answer JSON matching whatever schema is requested, else a short text. Zero usage
    because the CLI adds side calls to ``total_cost_usd``/``modelUsage`` (not to ``usage``),
    and tests should not have to care about a call the CLI makes racily.
    """
    fmt = (body.get("output_config") or {}).get("format") or {}
    if fmt.get("type") == "json_schema":
        return Reply(text=json.dumps(_json_for_schema(fmt.get("schema"))), usage=Usage())
    return Reply(text="ok", usage=Usage())


class FakeAnthropic:
    """Scripted Anthropic Messages API on ``127.0.0.1:<ephemeral>`` (use as a context manager).

    ``script`` is a list of replies consumed in order by main-loop requests, or a callable
    ``(request_body, call_index) -> Reply``. An HTTP-error reply consumes its slot, so a 429
    followed by a success scripts "rate limited once, then OK" (the CLI resends the same
    turn). Running past the end of a list, or a raising callable, answers HTTP 400 (which
    the CLI does not retry: the run ends with ``is_error: true``, exit 1) and records the
    problem in ``script_errors``, so a test fails fast instead of hanging.
    """

    def __init__(
        self,
        script: Script,
        side_script: SideFn | None = None,
        count_tokens: int = 1000,
    ) -> None:
        self._script = script
        self._side_script = side_script or default_side_reply
        self._count_tokens = count_tokens
        # Re-entrant: a script callable may read ``fake.requests`` while we hold the lock.
        self._lock = threading.RLock()
        self._role_counts = {"main": 0, "side": 0}
        self._ids = itertools.count(1)
        self.exchanges: list[Exchange] = []
        # (method, path) of every request that was not a /v1/messages POST.
        self.other_requests: list[tuple[str, str]] = []
        self.count_tokens_calls = 0
        self.script_errors: list[str] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------

    def __enter__(self) -> FakeAnthropic:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        handler = _make_handler(self)
        server = _QuietServer(("127.0.0.1", 0), handler)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, name="fake-anthropic", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    @property
    def base_url(self) -> str:
        assert self._server is not None, "FakeAnthropic not started"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    # -- recorded data ---------------------------------------------------------------

    def _snapshot(self) -> list[Exchange]:
        with self._lock:
            return list(self.exchanges)

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Bodies of every /v1/messages request (main and side), in arrival order."""
        return [e.body for e in self._snapshot()]

    @property
    def main_requests(self) -> list[dict[str, Any]]:
        return [e.body for e in self._snapshot() if e.role == "main"]

    @property
    def side_requests(self) -> list[dict[str, Any]]:
        return [e.body for e in self._snapshot() if e.role == "side"]

    @property
    def usage_reported(self) -> list[dict[str, int]]:
        """Usage dicts sent back, one per successful /v1/messages response."""
        return [e.usage.model_dump() for e in self._snapshot() if e.usage is not None]

    @property
    def main_calls(self) -> int:
        return sum(1 for e in self._snapshot() if e.role == "main")

    @property
    def side_calls(self) -> int:
        return sum(1 for e in self._snapshot() if e.role == "side")

    def total_usage(self, role: Literal["main", "side"] | None = "main") -> Usage:
        """Sum of usage the server reported (``role=None`` sums main and side)."""
        total = Usage()
        for e in self._snapshot():
            if e.usage is not None and (role is None or e.role == role):
                total = total + e.usage
        return total

    # -- request handling (called from handler threads) ----------------------------

    def _next_reply(self, body: dict[str, Any]) -> tuple[Literal["main", "side"], int, Reply]:
        # Decision rule documented in the module docstring: tools present -> main loop.
        role: Literal["main", "side"] = "main" if body.get("tools") else "side"
        with self._lock:
            # Reserve the index now so concurrent requests (e.g. parallel sub-agents) never
            # share one; the script callable runs under the lock, so replies stay ordered.
            index = self._role_counts[role]
            self._role_counts[role] += 1
            if role == "side":
                return role, index, self._side_script(body)
            script = self._script
            if callable(script):
                try:
                    return role, index, script(body, index)
                except Exception as exc:  # surfaced to the test via script_errors
                    self.script_errors.append(f"script raised on call {index}: {exc!r}")
                    return role, index, error_reply(400, message=f"script raised: {exc!r}")
            if index < len(script):
                return role, index, script[index]
            self.script_errors.append(f"script exhausted at main call {index}")
            return role, index, error_reply(400, message="FakeAnthropic script exhausted")

    def _record(self, exchange: Exchange) -> None:
        with self._lock:
            self.exchanges.append(exchange)

    def _record_other(self, method: str, path: str) -> None:
        with self._lock:
            self.other_requests.append((method, path))

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}_fake{next(self._ids):06d}"


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True  # a hung client must not block interpreter exit

    def handle_error(self, request: Any, client_address: Any) -> None:
        # The CLI may drop a stream when it exits or aborts a request; that is not a test
        # failure, so do not spray tracebacks over pytest's captured stderr.
        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError):
            return
        super().handle_error(request, client_address)


def _message_json(
    fake: FakeAnthropic, reply: Reply, model: str, usage: dict[str, int]
) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    if reply.text is not None:
        content.append({"type": "text", "text": reply.text})
    for tu in reply.tool_uses:
        content.append(
            {
                "type": "tool_use",
                "id": tu.id or fake._new_id("toolu"),
                "name": tu.name,
                "input": tu.input,
            }
        )
    return {
        "id": fake._new_id("msg"),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": reply.stop_reason,
        "stop_sequence": None,
        "usage": usage,
    }


def _make_handler(fake: FakeAnthropic) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            # Keep pytest output clean; everything is recorded on the FakeAnthropic.
            pass

        # -- helpers ---------------------------------------------------------------

        def _send_json(
            self, status: int, payload: Any, headers: dict[str, str] | None = None
        ) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.send_header("request-id", fake._new_id("req"))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def _send_error(self, err: HttpError) -> None:
            headers: dict[str, str] = dict(err.headers)
            if err.retry_after is not None:
                ra = err.retry_after
                headers["retry-after"] = str(int(ra)) if float(ra).is_integer() else str(ra)
            # Only when scripted: the SDK lets x-should-retry override its status-based rule,
            # so sending it by default would test our header rather than the CLI's policy.
            if err.should_retry is not None:
                headers["x-should-retry"] = "true" if err.should_retry else "false"
            etype = err.error_type or _ERROR_TYPES.get(err.status, "api_error")
            self._send_json(
                err.status,
                {"type": "error", "error": {"type": etype, "message": err.message}},
                headers,
            )

        def _sse(self, event: str, data: dict[str, Any]) -> None:
            self.wfile.write(f"event: {event}\ndata: {json.dumps(data)}\n\n".encode())
            self.wfile.flush()

        def _read_body(self) -> Any:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                return json.loads(raw) if raw else {}
            except json.JSONDecodeError:
                return None

        # -- verbs -----------------------------------------------------------------

        def do_HEAD(self) -> None:
            # Claude Code probes ``HEAD /`` at start-up; any 2xx is fine.
            fake._record_other("HEAD", self.path)
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        def do_GET(self) -> None:
            fake._record_other("GET", self.path)
            self._not_found()

        def _not_found(self) -> None:
            self._send_json(
                404,
                {
                    "type": "error",
                    "error": {"type": "not_found_error", "message": f"no route {self.path}"},
                },
            )

        def do_POST(self) -> None:
            path = urlsplit(self.path).path  # the CLI appends ?beta=true
            body = self._read_body()
            if path == "/v1/messages/count_tokens":
                with fake._lock:
                    fake.count_tokens_calls += 1
                self._send_json(200, {"input_tokens": fake._count_tokens})
                return
            if path != "/v1/messages":
                fake._record_other("POST", self.path)
                self._not_found()
                return
            if not isinstance(body, dict):
                self._send_json(
                    400,
                    {
                        "type": "error",
                        "error": {"type": "invalid_request_error", "message": "bad JSON"},
                    },
                )
                return
            arrived = time.time()
            role, index, reply = fake._next_reply(body)
            if reply.error is not None:
                fake._record(Exchange(role, index, body, reply.error.status, None, arrived))
                self._send_error(reply.error)
                return
            fake._record(Exchange(role, index, body, 200, reply.usage, arrived))
            model = str(body.get("model", "claude-sonnet-4-5"))
            if body.get("stream"):
                self._stream(reply, model)
            else:
                self._send_json(200, _message_json(fake, reply, model, reply.usage.model_dump()))

        def _stream(self, reply: Reply, model: str) -> None:
            u = reply.usage
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("cache-control", "no-cache")
            self.send_header("request-id", fake._new_id("req"))
            # No content-length on a stream: close the connection to delimit the body.
            self.send_header("connection", "close")
            self.end_headers()
            self.close_connection = True
            # Like the real API: message_start carries the input-side counts and a
            # placeholder output count; message_delta carries the final cumulative counts.
            start_usage = u.model_dump() | {"output_tokens": min(1, u.output_tokens)}
            msg = _message_json(
                fake, reply.model_copy(update={"text": None, "tool_uses": ()}), model, start_usage
            )
            msg["stop_reason"] = None
            self._sse("message_start", {"type": "message_start", "message": msg})
            index = 0
            if reply.text is not None:
                self._sse(
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": index,
                        "content_block": {"type": "text", "text": ""},
                    },
                )
                self._sse(
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": index,
                        "delta": {"type": "text_delta", "text": reply.text},
                    },
                )
                self._sse("content_block_stop", {"type": "content_block_stop", "index": index})
                index += 1
            for tu in reply.tool_uses:
                self._sse(
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": index,
                        "content_block": {
                            "type": "tool_use",
                            "id": tu.id or fake._new_id("toolu"),
                            "name": tu.name,
                            "input": {},
                        },
                    },
                )
                self._sse(
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": index,
                        "delta": {"type": "input_json_delta", "partial_json": json.dumps(tu.input)},
                    },
                )
                self._sse("content_block_stop", {"type": "content_block_stop", "index": index})
                index += 1
            self._sse(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": reply.stop_reason, "stop_sequence": None},
                    "usage": u.model_dump(),
                },
            )
            self._sse("message_stop", {"type": "message_stop"})

    return Handler
