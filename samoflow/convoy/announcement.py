"""The convoy's one completion message: every member's outcome, merge and cost, as blocks."""

from __future__ import annotations

from typing import Any

from samoflow.convoy.record import ConvoyMember, ConvoyRecord, MemberState
from samoflow.notices.slack import (
    SECTION_LIMIT,
    SlackPayload,
    context_block,
    fields_block,
    header_block,
    section_block,
)
from samoflow.workspace.merge import MergeStatus

MAX_MEMBER_BLOCKS = 40

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
        header_block(title),
        fields_block(
            [
                ("Integration branch", f"`{record.integration_branch}`"),
                ("Base", f"`{record.base_branch}`"),
                ("Members", str(len(record.members))),
                ("Cost", f"${cost:.4f}"),
            ]
        ),
    ]
    lines = [member_line(m) for m in record.members]
    blocks += [section_block(line) for line in lines[:MAX_MEMBER_BLOCKS]]
    if len(lines) > MAX_MEMBER_BLOCKS:
        blocks.append(context_block(f"and {len(lines) - MAX_MEMBER_BLOCKS} more members"))
    blocks.append(context_block(f"convoy id {record.id}"))
    text = "\n".join([title, *[line.replace("*", "") for line in lines]])
    return SlackPayload(text=text[:SECTION_LIMIT], blocks=tuple(blocks))
