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

from samoflow.convoy.record import ConvoyMember, ConvoyRecord, MemberState
from samoflow.names import slugify
from samoflow.notices.notice import Notice
from samoflow.workspace.merge import MergeStatus

HEADER_LIMIT = 150
SECTION_LIMIT = 3000
MAX_MEMBER_BLOCKS = 40


class SlackPayload(BaseModel):
    model_config = ConfigDict(frozen=True)

    text: str  # the notification fallback, and what a screen reader says
    blocks: tuple[dict[str, Any], ...]

    def digest(self) -> str:
        raw = json.dumps(self.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(raw.encode("utf-8")).hexdigest()

    def pretty(self) -> str:
        return json.dumps(self.model_dump(mode="json"), indent=2, ensure_ascii=False)


def _header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": text[:HEADER_LIMIT]}}


def _section(markdown: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": markdown[:SECTION_LIMIT]}}


def _fields(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    return {
        "type": "section",
        "fields": [{"type": "mrkdwn", "text": f"*{k}*\n{v}"[:2000]} for k, v in pairs[:10]],
    }


def _context(markdown: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": markdown[:SECTION_LIMIT]}]}


def notice_key(notice: Notice) -> str:
    """One message per session, kind and iteration: a retried flow does not say it twice."""
    return f"session-{notice.session}-{slugify(notice.kind.value)}-{notice.iteration}"


def notice_payload(notice: Notice) -> SlackPayload:
    blocks: list[dict[str, Any]] = [
        _header(notice.headline().replace("`", "")),
        _fields(
            [
                ("Phase", notice.phase),
                ("Iteration", str(notice.iteration)),
                ("Cost", f"${notice.cost_usd:.4f}"),
            ]
        ),
    ]
    if notice.text:
        blocks.append(_section(notice.text))
    if notice.next_step:
        blocks.append(_context(f"next: {notice.next_step}"))
    return SlackPayload(text=notice.plain_text()[:SECTION_LIMIT], blocks=tuple(blocks))


_ICON = {
    MemberState.DONE: "✅",
    MemberState.BLOCKED: "⛔",
    MemberState.FAILED: "💥",
    MemberState.WAITING: "⏸️",
}


def member_line(member: ConvoyMember) -> str:
    duration = member.duration_seconds
    merge = member.merge.describe() if member.merge is not None else "not merged"
    parts = [
        f"{_ICON.get(member.state, '•')} *{member.name}*: {member.state.value}",
        f"{member.iterations} it",
        f"{duration:.0f} s" if duration is not None else "? s",
        f"${member.cost_usd:.4f}",
        merge,
    ]
    line = " · ".join(parts)
    if member.state is not MemberState.DONE and member.note:
        line += f"\n      _{member.note[:300]}_"
    return line


def convoy_counts(record: ConvoyRecord) -> dict[str, int]:
    counts: dict[str, int] = {}
    for member in record.members:
        counts[member.state.value] = counts.get(member.state.value, 0) + 1
    conflicts = sum(1 for m in record.members if m.merge and m.merge.status is MergeStatus.CONFLICT)
    if conflicts:
        counts["merge conflicts"] = conflicts
    return counts


def convoy_payload(record: ConvoyRecord) -> SlackPayload:
    """The one completion message: every member's outcome, duration, merge result and cost."""
    counts = ", ".join(f"{n} {state}" for state, n in convoy_counts(record).items())
    clean = all(m.state is MemberState.DONE for m in record.members) and "conflicts" not in counts
    title = f"{'✅' if clean else '⚠️'} samoflow convoy {record.name} finished: {counts}"
    cost = sum(m.cost_usd for m in record.members)
    blocks: list[dict[str, Any]] = [
        _header(title),
        _fields(
            [
                ("Integration branch", f"`{record.integration_branch}`"),
                ("Base", f"`{record.base_branch}`"),
                ("Members", str(len(record.members))),
                ("Cost", f"${cost:.4f}"),
            ]
        ),
    ]
    lines = [member_line(m) for m in record.members]
    blocks += [_section(line) for line in lines[:MAX_MEMBER_BLOCKS]]
    if len(lines) > MAX_MEMBER_BLOCKS:
        blocks.append(_context(f"and {len(lines) - MAX_MEMBER_BLOCKS} more members"))
    blocks.append(_context(f"convoy id {record.id}"))
    text = "\n".join([title, *[line.replace("*", "") for line in lines]])
    return SlackPayload(text=text[:SECTION_LIMIT], blocks=tuple(blocks))
