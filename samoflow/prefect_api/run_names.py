"""Names and tags the Prefect UI shows session runs with: every session run is named
`session-<name> (convoy <c>)`; a member run a served convoy creates is tagged `role:<role>`
and `convoy:<name>` (given to `run_deployment`).

Measured, and why there is no more: a `tags` context around in-process subflows or tasks
tags every task run inside, and each tagged task run asks the server for tag concurrency
slots (`increment-with-lease`), which a busy SQLite server answers 503: a 3-member convoy
went from 10 s to 34 s. Rewriting a running flow run's tags (`PATCH /flow_runs/{id}`, for
the phase) stalled sessions 60 s on SQLite while the stall automation wrote its buckets.
"""

from __future__ import annotations

from samoflow.session.files import SessionFiles
from samoflow.session.spec import read_spec

ROLE_PREFIX = "role:"
CONVOY_PREFIX = "convoy:"


def session_run_name(files: SessionFiles) -> str:
    """`session-<name>`, and the convoy it belongs to: the UI's list reads as the story."""
    try:
        convoy = read_spec(files.spec).convoy
    except (OSError, ValueError):  # no readable spec yet: the flow itself reports why
        convoy = None
    return f"session-{files.name}" + (f" (convoy {convoy})" if convoy else "")


def session_run_tags(files: SessionFiles) -> list[str]:
    """The tags a served convoy creates its member's run with: its role and its convoy."""
    spec = read_spec(files.spec)
    tags = ["samoflow", f"{ROLE_PREFIX}{spec.role.value}"]
    if spec.convoy:
        tags.append(f"{CONVOY_PREFIX}{spec.convoy}")
    return tags
