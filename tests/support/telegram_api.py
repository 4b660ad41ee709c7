"""A stand-in for the Telegram Bot API on 127.0.0.1: `sendMessage` and `getUpdates`.

`statuses` are answered in order, then 200 (429 carries `parameters.retry_after`). Sent
messages get ids; `reply(...)` queues a user's reply to one of them as an update, which
`getUpdates` long-polls for and confirms by `offset`, as Telegram does.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOKEN = "123456:telegram-secret-token"
CHAT_ID = "-1001"


class FakeTelegram:
    def __init__(self, statuses: list[int] | None = None, retry_after: int = 1) -> None:
        self.statuses = list(statuses or [])
        self.retry_after = retry_after
        self.posts: list[dict[str, Any]] = []  # every sendMessage, answered or not
        self.delivered: list[dict[str, Any]] = []
        self.updates: list[dict[str, Any]] = []  # not yet confirmed by an offset
        self.served_update_ids: list[int] = []  # every update handed out, in order
        self.next_message_id = 100
        self.next_update_id = 5000
        self.changed = threading.Condition()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def texts(self) -> list[str]:
        with self.changed:
            return [str(body.get("text", "")) for body in self.delivered]

    def reply(self, to_message_id: int, text: str, *, user_id: int = 42,
              chat_id: str = CHAT_ID) -> int:
        """A human's reply to one of the bot's messages, as the update Telegram would give."""
        with self.changed:
            update_id = self.next_update_id
            self.next_update_id += 1
            self.updates.append({
                "update_id": update_id,
                "message": {
                    "message_id": self.next_message_id + 10_000,
                    "from": {"id": user_id, "is_bot": False, "first_name": "Ann"},
                    "chat": {"id": int(chat_id), "type": "group"},
                    "text": text,
                    "reply_to_message": {"message_id": to_message_id,
                                         "from": {"id": 1, "is_bot": True}},
                },
            })
            self.changed.notify_all()
            return update_id

    def _send(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self.changed:
            self.posts.append(body)
            status = self.statuses.pop(0) if self.statuses else 200
            if status == 429:
                return status, {"ok": False, "error_code": 429,
                                "description": "Too Many Requests: retry after 1",
                                "parameters": {"retry_after": self.retry_after}}
            if status != 200:
                return status, {"ok": False, "error_code": status, "description": "oops"}
            self.delivered.append(body)
            self.next_message_id += 1
            return 200, {"ok": True, "result": {"message_id": self.next_message_id,
                                                "chat": {"id": int(body["chat_id"])},
                                                "text": body.get("text", "")}}

    def _get_updates(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        offset = body.get("offset")
        timeout = min(float(body.get("timeout", 0)), 5.0)
        with self.changed:
            if offset is not None:  # confirms every update before it
                self.updates = [u for u in self.updates if u["update_id"] >= int(offset)]
            self.changed.wait_for(lambda: bool(self.updates), timeout=timeout)
            result = list(self.updates)
            self.served_update_ids += [u["update_id"] for u in result]
            return 200, {"ok": True, "result": result}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                token, _, method = self.path.removeprefix("/bot").partition("/")
                if token != TOKEN:
                    status, answer = 401, {"ok": False, "error_code": 401,
                                           "description": "Unauthorized"}
                elif method == "sendMessage":
                    status, answer = fake._send(body)
                elif method == "getUpdates":
                    status, answer = fake._get_updates(body)
                else:
                    status, answer = 404, {"ok": False, "description": "Not Found"}
                raw = json.dumps(answer).encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, format: str, *args: object) -> None:
                return

        return Handler


@contextmanager
def fake_telegram(statuses: list[int] | None = None) -> Iterator[FakeTelegram]:
    fake = FakeTelegram(statuses)
    thread = threading.Thread(target=fake.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        fake.server.shutdown()
        fake.server.server_close()
