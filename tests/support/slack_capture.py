"""A stand-in for Slack on 127.0.0.1: records every POST body, answers as scripted."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class SlackCapture:
    """`statuses` are answered in order (then 200 forever): [500, 200] = fail once, then take."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.statuses = list(statuses or [])
        self.posts: list[dict[str, Any]] = []  # every POST, answered or not
        self.delivered: list[dict[str, Any]] = []  # the POSTs answered 200
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}/services/T000/B000/secret-webhook-token"

    @property
    def api_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}/api/"

    def texts(self) -> list[str]:
        with self.lock:
            return [str(body.get("text", "")) for body in self.delivered]

    def _answer(self, body: dict[str, Any]) -> int:
        with self.lock:
            self.posts.append(body)
            status = self.statuses.pop(0) if self.statuses else 200
            if status == 200:
                self.delivered.append(body)
            return status

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        capture = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length).decode("utf-8")
                try:
                    body = json.loads(raw)
                except json.JSONDecodeError:  # chat.postMessage may post a form
                    body = {"raw": raw}
                status = capture._answer(body)
                bot = self.path.startswith("/api/")
                reply = (
                    json.dumps({"ok": status == 200})
                    if bot
                    else ("ok" if status == 200 else "oops")
                )
                self.send_response(status)
                if status == 429:
                    self.send_header("Retry-After", "1")
                self.send_header("Content-Type", "application/json" if bot else "text/plain")
                self.end_headers()
                self.wfile.write(reply.encode("utf-8"))

            def log_message(self, format: str, *args: object) -> None:
                return

        return Handler


@contextmanager
def slack_capture(statuses: list[int] | None = None) -> Iterator[SlackCapture]:
    capture = SlackCapture(statuses)
    thread = threading.Thread(target=capture.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield capture
    finally:
        capture.server.shutdown()
        capture.server.server_close()
