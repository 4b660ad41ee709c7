"""A stand-in for Slack on 127.0.0.1: records every POST body, answers as scripted.

Besides incoming webhooks it speaks the Web API methods samoflow uses: `chat.postMessage`
(each message gets a `ts`; one with `thread_ts` is a thread reply by the bot) and
`conversations.replies` (a thread's parent and its replies after `oldest`). A human's
thread reply is added with `user_reply(...)`.
"""

from __future__ import annotations

import json
import threading
import urllib.parse
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
        self.messages: list[dict[str, Any]] = []  # chat.postMessage and user replies, with ts
        self.replies_reads: list[dict[str, str]] = []  # every conversations.replies query
        self._clock = 1_700_000_000
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

    def _next_ts(self) -> str:
        self._clock += 1
        return f"{self._clock}.000100"

    def _posted(self, body: dict[str, Any]) -> dict[str, Any]:
        """A chat.postMessage the bot made: stored with its ts (a thread reply if threaded)."""
        with self.lock:
            message = {"ts": self._next_ts(), "bot_id": "B1", "text": body.get("text", ""),
                       "channel": body.get("channel"), "thread_ts": body.get("thread_ts")}
            self.messages.append(message)
            return message

    def user_reply(self, thread_ts: str, text: str, user: str = "U42") -> str:
        with self.lock:
            ts = self._next_ts()
            self.messages.append({"ts": ts, "user": user, "text": text, "thread_ts": thread_ts})
            return ts

    def bot_replies(self, thread_ts: str) -> list[str]:
        with self.lock:
            return [m["text"] for m in self.messages
                    if m.get("thread_ts") == thread_ts and m.get("bot_id")]

    def _thread(self, query: dict[str, str]) -> dict[str, Any]:
        with self.lock:
            self.replies_reads.append(query)
            ts, oldest = query.get("ts", ""), float(query.get("oldest", "0"))
            parent = [m for m in self.messages if m["ts"] == ts]
            replies = [m for m in self.messages
                       if m.get("thread_ts") == ts and float(m["ts"]) > oldest]
            return {"ok": True, "messages": parent + replies, "has_more": False}

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
                if self.path.startswith("/api/conversations.replies"):
                    self.do_GET(dict(urllib.parse.parse_qsl(raw)))  # slack-sdk may POST it
                    return
                try:
                    body = json.loads(raw)
                except json.JSONDecodeError:  # chat.postMessage may post a form
                    body = {"raw": raw}
                status = capture._answer(body)
                bot = self.path.startswith("/api/")
                answer: dict[str, Any] = {"ok": status == 200}
                if bot and status == 200 and self.path.startswith("/api/chat.postMessage"):
                    posted = capture._posted(body)
                    answer.update(ts=posted["ts"], channel=posted["channel"])
                reply = json.dumps(answer) if bot else ("ok" if status == 200 else "oops")
                self.send_response(status)
                if status == 429:
                    self.send_header("Retry-After", "1")
                self.send_header("Content-Type", "application/json" if bot else "text/plain")
                self.end_headers()
                self.wfile.write(reply.encode("utf-8"))

            def do_GET(self, form: dict[str, str] | None = None) -> None:
                url = urllib.parse.urlsplit(self.path)
                query = {**dict(urllib.parse.parse_qsl(url.query)), **(form or {})}
                found = url.path == "/api/conversations.replies"
                answer = capture._thread(query) if found else {"ok": False, "error": "unknown"}
                raw = json.dumps(answer).encode("utf-8")
                self.send_response(200 if found else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

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
