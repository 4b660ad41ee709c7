"""Deliver a convoy: its integration branch pushed once and one pull request for the batch.

Members of a convoy do not push or propose one by one: what the convoy delivers is what
its merge queue landed. Due once, when every member is finished and something landed; a
coordinator's worker convoy is delivered by the coordinator's own session, not here.
"""

from __future__ import annotations

from pathlib import Path

from samoflow.convoy.record import ConvoyRecord, MemberState
from samoflow.delivery.push import Proposal, push_and_propose
from samoflow.project import DeliveryConfig
from samoflow.session.verification import DeliveryRecord
from samoflow.workspace.merge import MergeStatus

LANDED = (MergeStatus.MERGED, MergeStatus.ALREADY_MERGED)


def convoy_delivery_due(record: ConvoyRecord, config: DeliveryConfig) -> bool:
    landed = any(m.merge is not None and m.merge.status in LANDED for m in record.members)
    return (
        config.push is not None
        and record.owner is None
        and record.complete
        and record.delivery is None
        and landed
    )


def convoy_pull_request_body(record: ConvoyRecord) -> str:
    lines = [f"## samoflow convoy `{record.name}`", ""]
    lines += ["| member | state | merge |", "|---|---|---|"]
    for member in record.members:
        merge = member.merge.describe() if member.merge else "not merged"
        lines.append(f"| {member.name} | {member.state.value} | {merge} |")
    done = sum(1 for m in record.members if m.state is MemberState.DONE)
    cost = sum(m.cost_usd for m in record.members)
    lines += [
        "",
        f"{done} of {len(record.members)} members done; every merge into "
        f"`{record.integration_branch}` passed the project's checks when it landed "
        "(the merge queue), or the work is unverified where no checks are configured.",
        "",
        f"Cost: ${cost:.4f}. Delivered by samoflow convoy `{record.name}` ({record.id}).",
    ]
    return "\n".join(lines) + "\n"


def deliver_convoy(
    record: ConvoyRecord, config: DeliveryConfig, body_file: Path
) -> DeliveryRecord:
    """Push the integration branch (never forced), then open the pull request, if asked."""
    proposal = Proposal(
        base=record.base_branch,
        branch=record.integration_branch,
        title=f"samoflow convoy {record.name}",
        body=convoy_pull_request_body(record),
        body_file=body_file,
    )
    return push_and_propose(Path(record.repo), config, proposal)
