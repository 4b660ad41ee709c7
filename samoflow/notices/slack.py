"""Slack Block Kit payloads for a session notice and a convoy's completion, channel-free.

The payload is plain data: the SlackAlerts block posts it, the outbox stores it, and with
no Slack configured it is printed. Block Kit limits are respected (header 150 characters,
section text 3,000, 50 blocks).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import BaseModel, ConfigDict

from samoflow.names import slugify
from samoflow.notices.notice import Notice

HEADER_LIMIT = 150
SECTION_LIMIT = 3000


class SlackPayload(BaseModel):
    model_config = ConfigDict(frozen=True)

    text: str  # the notification fallback, and what a screen reader says
    blocks: tuple[dict[str, Any], ...]

    def digest(self) -> str:
        raw = json.dumps(self.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(raw.encode("utf-8")).hexdigest()

    def pretty(self) -> str:
        return json.dumps(self.model_dump(mode="json"), indent=2, ensure_ascii=False)

    def rendered(self) -> str:
        """The message as a person reads it in Slack: its blocks as plain lines."""
        return "\n".join(line for block in self.blocks for line in _block_lines(block))


def _block_lines(block: dict[str, Any]) -> list[str]:
    if block.get("type") == "header":
        return [str(block["text"]["text"]), ""]
    if block.get("type") == "context":
        return [f"  {element.get('text', '')}" for element in block.get("elements", [])]
    if "fields" in block:
        pairs = (str(f["text"]).replace("*", "").replace("\n", ": ") for f in block["fields"])
        return [" · ".join(pairs)]
    text = block.get("text", {}).get("text", "")
    return [str(text).replace("*", "")]


def header_block(text: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": text[:HEADER_LIMIT]}}


def section_block(markdown: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": markdown[:SECTION_LIMIT]}}


def fields_block(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    return {
        "type": "section",
        "fields": [{"type": "mrkdwn", "text": f"*{k}*\n{v}"[:2000]} for k, v in pairs[:10]],
    }


def context_block(markdown: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": markdown[:SECTION_LIMIT]}]}


def notice_key(notice: Notice) -> str:
    """One message per session, kind and iteration: a retried flow does not say it twice."""
    return f"session-{notice.session}-{slugify(notice.kind.value)}-{notice.iteration}"


def notice_payload(notice: Notice) -> SlackPayload:
    blocks: list[dict[str, Any]] = [
        header_block(notice.headline().replace("`", "")),
        fields_block(
            [
                ("Phase", notice.phase),
                ("Iteration", str(notice.iteration)),
                ("Cost", f"${notice.cost_usd:.4f}"),
            ]
        ),
    ]
    if notice.text:
        blocks.append(section_block(notice.text))
    if notice.next_step:
        blocks.append(context_block(f"next: {notice.next_step}"))
    return SlackPayload(text=notice.plain_text()[:SECTION_LIMIT], blocks=tuple(blocks))
