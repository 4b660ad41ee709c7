"""The convoy's one completion message: every member's outcome, merge and cost, as blocks."""

from __future__ import annotations

from typing import Any

from samoflow.convoy.record import ConvoyMember, ConvoyRecord, MemberState
from samoflow.convoy.rounds import failed_rounds, verified_label
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
    MemberState.STOPPED: "⏹️",
}


MERGE_TROUBLE = frozenset({MergeStatus.CONFLICT, MergeStatus.FAILED, MergeStatus.RED})
TROUBLE_ICON = "⚠️"


def merge_trouble(member: ConvoyMember) -> bool:
    """A merge that conflicted or failed: the member's work is not in the integration branch."""
    return member.merge is not None and member.merge.status in MERGE_TROUBLE


def member_status(member: ConvoyMember) -> tuple[str, str]:
    """Icon and words: a done member whose merge conflicted is never a plain ✅ done."""
    if member.state is MemberState.DONE and merge_trouble(member):
        assert member.merge is not None
        return TROUBLE_ICON, f"done, merge {member.merge.status.value}"
    return _ICON.get(member.state, "•"), member.state.value


def merge_summary(record: ConvoyRecord) -> str:
    """One cell for `samoflow convoys`: merged count and every conflict or failure by name."""
    merged = sum(
        1
        for m in record.members
        if m.merge and m.merge.status in (MergeStatus.MERGED, MergeStatus.ALREADY_MERGED)
    )
    troubles = [
        f"{m.name}: {m.merge.describe()}" for m in record.members if m.merge and merge_trouble(m)
    ]
    return "; ".join([f"{merged} merged", *troubles])


def member_line(member: ConvoyMember) -> str:
    duration = member.duration_seconds
    merge = member.merge.describe() if member.merge is not None else "not merged"
    icon, words = member_status(member)
    parts = [
        f"{icon} *{member.name}*: {words}",
        f"{member.iterations} it",
        f"{duration:.0f} s" if duration is not None else "? s",
        f"${member.cost_usd:.4f}",
        merge,
        verified_label(member.rounds),
    ]
    line = " · ".join(parts)
    if member.state is not MemberState.DONE and member.note:
        line += f"\n      _{member.note[:300]}_"
    return line


def rounds_lines(record: ConvoyRecord) -> list[str]:
    """The merge queue's rounds in the order they happened: `3. b round 1: check ... red`."""
    rounds = sorted(
        ((r.at, m.name, r) for m in record.members for r in m.rounds), key=lambda t: t[0]
    )
    return [
        f"{n}. {name} round {r.number}: {r.describe()}"
        for n, (_, name, r) in enumerate(rounds, start=1)
    ]


def convoy_counts(record: ConvoyRecord) -> dict[str, int]:
    counts: dict[str, int] = {}
    for member in record.members:
        counts[member.state.value] = counts.get(member.state.value, 0) + 1
    for status in (MergeStatus.CONFLICT, MergeStatus.FAILED, MergeStatus.RED):
        found = sum(1 for m in record.members if m.merge and m.merge.status is status)
        if found:
            counts[f"merge {status.value}"] = found
    sent_back = sum(1 for m in record.members if failed_rounds(m.rounds))
    if sent_back:
        counts["sent back by the merge queue"] = sent_back
    return counts


def cleanly_done(record: ConvoyRecord) -> bool:
    """Every member done and merged without a conflict or a failure."""
    return all(m.state is MemberState.DONE and not merge_trouble(m) for m in record.members)


def _clip(text: str) -> str:
    return text if len(text) <= SECTION_LIMIT else text[: SECTION_LIMIT - 20] + "\n… (more rounds)"


def convoy_payload(record: ConvoyRecord) -> SlackPayload:
    """The one completion message: every member's outcome, duration, merge result and cost."""
    counts = ", ".join(f"{n} {state}" for state, n in convoy_counts(record).items())
    icon = "✅" if cleanly_done(record) else TROUBLE_ICON
    title = f"{icon} samoflow convoy {record.name} finished: {counts}"
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
    rounds = rounds_lines(record)
    if rounds:
        blocks.append(section_block(_clip("*Merge queue rounds*\n" + "\n".join(rounds))))
    delivered = delivery_line(record)
    if delivered:
        blocks.append(section_block(delivered))
    blocks.append(context_block(f"convoy id {record.id}"))
    merge_queue = ["Merge queue rounds:", *rounds] if rounds else []
    text = "\n".join(
        [title, *[line.replace("*", "") for line in lines], *merge_queue, delivered]
    ).rstrip()
    return SlackPayload(text=text[:SECTION_LIMIT], blocks=tuple(blocks))


def delivery_line(record: ConvoyRecord) -> str:
    """Where the integration branch went: pushed, its pull request, or why not."""
    delivery = record.delivery
    if delivery is None:
        return ""
    if delivery.error is not None:
        return f"Delivery failed: {delivery.error}"[:SECTION_LIMIT]
    line = f"Pushed `{delivery.branch}` to {delivery.remote}"
    url = delivery.pull_request_url
    return line + (f"; pull request {url}" if url else "")
