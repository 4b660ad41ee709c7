"""A scripted stand-in for the OpenAI Responses API, for the real `codex` binary.

Owns: an HTTP server on 127.0.0.1 that `codex exec` (0.171.0) talks to through a model
provider in `$CODEX_HOME/config.toml` (`wire_api = "responses"`). Each `POST
/v1/responses` (streamed, SSE) asks the script `(request_body, call_index) -> CodexReply`
for output items: a text message, or a function call of codex's `exec_command` tool (which
codex runs, then sends its output in the next request). Observed events codex needs:
`response.created`, `response.output_item.done` per item, `response.completed` with usage.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any


@dataclass(frozen=True)
class CodexReply:
    text: str | None = None
    command: str | None = None  # an exec_command call
    input_tokens: int = 1200
    cached_tokens: int = 1000
    output_tokens: int = 30


Script = Callable[[dict[str, Any], int], CodexReply]


def prompt_text(body: dict[str, Any]) -> str:
    """Every user input text of the request (the samoflow prompt is one of them)."""
    texts = []
    for item in body.get("input", []):
        if item.get("type") == "message" and item.get("role") == "user":
            texts += [c.get("text", "") for c in item.get("content", []) if isinstance(c, dict)]
    return "\n".join(texts)


def tool_outputs(body: dict[str, Any]) -> int:
    return sum(1 for item in body.get("input", []) if item.get("type") == "function_call_output")


class FakeOpenAI:
    def __init__(self, script: Script) -> None:
        self.script = script
        self.requests: list[dict[str, Any]] = []
        self.errors: list[str] = []
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._server: ThreadingHTTPServer | None = None

    def __enter__(self) -> FakeOpenAI:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    @property
    def base_url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def write_config(self, codex_home: Path) -> dict[str, str]:
        """`$CODEX_HOME/config.toml` naming this server; the environment codex needs."""
        codex_home.mkdir(parents=True, exist_ok=True)
        (codex_home / "config.toml").write_text(
            'model_provider = "fake"\n'
            "[model_providers.fake]\n"
            'name = "fake"\n'
            f'base_url = "{self.base_url}"\n'
            'wire_api = "responses"\n'
            'env_key = "FAKE_OPENAI_KEY"\n',
            encoding="utf-8",
        )
        return {"CODEX_HOME": str(codex_home), "FAKE_OPENAI_KEY": "sk-fake-for-tests"}

    def reply_to(self, body: dict[str, Any]) -> CodexReply:
        with self._lock:
            index = len(self.requests)
            self.requests.append(body)
            try:
                return self.script(body, index)
            except Exception as error:  # surfaced to the test
                self.errors.append(f"script raised on call {index}: {error!r}")
                return CodexReply(text="script error")

    def items(self, reply: CodexReply) -> list[dict[str, Any]]:
        n = next(self._ids)
        if reply.command is not None:
            arguments = json.dumps({"cmd": reply.command})
            return [
                {
                    "type": "function_call",
                    "id": f"fc_{n}",
                    "call_id": f"call_{n}",
                    "name": "exec_command",
                    "arguments": arguments,
                }
            ]
        return [
            {
                "type": "message",
                "role": "assistant",
                "id": f"msg_{n}",
                "content": [{"type": "output_text", "text": reply.text or ""}],
            }
        ]


def _handler(fake: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(404)
            self.send_header("content-length", "0")
            self.end_headers()

        def _event(self, data: dict[str, Any]) -> None:
            self.wfile.write(f"event: {data['type']}\ndata: {json.dumps(data)}\n\n".encode())
            self.wfile.flush()

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            if not self.path.endswith("/responses"):
                self.do_GET()
                return
            reply = fake.reply_to(body)
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("connection", "close")
            self.end_headers()
            self.close_connection = True
            response_id = f"resp_{next(fake._ids)}"
            self._event({"type": "response.created", "response": {"id": response_id}})
            for index, item in enumerate(fake.items(reply)):
                self._event(
                    {"type": "response.output_item.done", "output_index": index, "item": item}
                )
            usage = {
                "input_tokens": reply.input_tokens,
                "input_tokens_details": {"cached_tokens": reply.cached_tokens},
                "output_tokens": reply.output_tokens,
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": reply.input_tokens + reply.output_tokens,
            }
            self._event(
                {"type": "response.completed", "response": {"id": response_id, "usage": usage}}
            )

    return Handler
