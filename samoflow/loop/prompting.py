"""Build the iteration prompt (the instructions are instructions.py's)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from samoflow.convoy.record import worker_results
from samoflow.session.files import SessionFiles
from samoflow.session.handoff import HandoffRecord
from samoflow.session.hook import Hook
from samoflow.session.phases import Phase
from samoflow.session.spec import SessionSpec
from samoflow.session.verification import ChecksRecord


def _checks_section(red: ChecksRecord) -> list[str]:
    """samoflow ran the project's checks when the agent said done: they were red."""
    failed = red.failed
    lines = ["", "## The project's checks are red: fix them before done", red.headline()]
    if red.problem is not None:
        lines.append(red.problem)
    elif failed is not None:
        lines += [f"Full log: {failed.log}", "Last lines:", "```", failed.output_tail, "```"]
    return lines


def build_prompt(
    spec: SessionSpec,
    hook: Hook,
    session_dir: str,
    handoff: HandoffRecord | None,
    checks_red: ChecksRecord | None = None,
) -> str:
    now = datetime.now(UTC)
    lines = [
        "# Session context",
        f"- Session folder: {session_dir}",
        f"- Hook (read first): {session_dir}/_hook.json",
        f"- Working directory (your git worktree): {hook.working_dir}",
        f"- Branch: {spec.branch} (base {spec.base_branch})",
        f"- Role: {hook.role}",
        f"- Phase: {hook.phase}",
        f"- Iteration: {hook.iteration} (attempt {hook.attempt})",
        f"- TIMESTAMP_ITERATION: [{hook.iteration:03d} @ {now:%m-%d %H:%M}]",
    ]
    if hook.phase == Phase.INIT:
        lines += ["", "## Task (store it in _overview.md, do not start it)", spec.task]
        if spec.dive:
            lines += ["", "## Dive topic", spec.dive]
    workers = worker_results(SessionFiles(Path(session_dir)))
    if workers:
        lines += ["", "## Your workers (read their results, integrate them)", *workers]
    if hook.inbox_unread:
        lines += ["", "## Unread inbox messages", *[f"- _inbox/{m}" for m in hook.inbox_unread]]
    if checks_red is not None:
        lines += _checks_section(checks_red)
    if handoff is not None:
        lines += [
            "",
            "## Handoff from the previous agent (continue from here, do not repeat it)",
            f"Saved at iteration {handoff.from_iteration} in phase {handoff.phase}.",
            f"Summary: {handoff.summary or '(none)'}",
            "State:",
            "```json",
            json.dumps(handoff.state, indent=2, ensure_ascii=False, default=str),
            "```",
        ]
    lines += ["", "Do ONE action of this phase, update the overview, write _signal.json, exit."]
    return "\n".join(lines) + "\n"
