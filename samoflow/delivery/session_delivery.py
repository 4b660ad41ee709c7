"""Deliver a session's green work: push its branch, open its pull request, record both.

The outcome is a history entry: `done` with the delivery, or `blocked` with "delivery: ..."
and git's (or the PR command's) own message. Due once per `done`, so a restart resumes it.
"""

from __future__ import annotations

from pathlib import Path

from samoflow.delivery.gate import checks_records
from samoflow.delivery.push import Proposal, push_and_propose
from samoflow.project import DeliveryConfig, ProjectError, load_config
from samoflow.session.files import SessionFiles
from samoflow.session.history import HistoryEntry, Outcome, append_entry, system_entry
from samoflow.session.spec import SessionSpec, read_spec
from samoflow.session.state import Lifecycle, SessionState, load_state
from samoflow.session.verification import DeliveryRecord


def delivery_config(files: SessionFiles) -> DeliveryConfig:
    return load_config(Path(read_spec(files.spec).repo)).delivery


def delivery_due(files: SessionFiles) -> bool:
    """Done, not delivered yet, and the project asks for a push (a convoy's member is
    delivered with its convoy's integration branch, not alone)."""
    if read_spec(files.spec).convoy is not None:
        return False
    state = load_state(files)
    if state.lifecycle is not Lifecycle.DONE or state.entries[-1].delivery is not None:
        return False
    try:
        return delivery_config(files).push is not None
    except ProjectError:
        return True  # delivery records the error as a block


def pull_request_body(spec: SessionSpec, state: SessionState) -> str:
    summaries = [entry.summary for entry in state.entries if entry.summary]
    records = checks_records(state.entries)
    lines = [f"## {spec.task}", "", summaries[-1] if summaries else "(no summary)", "", "## Checks"]
    if records:
        green = records[-1]
        red = sum(1 for record in records if not record.passed)
        lines.append(f"{green.headline()}, after {red} red round(s)")
        lines += [f"- `{run.command}`: {run.duration_seconds:.1f}s" for run in green.runs]
    else:
        lines.append("not configured: this work is unverified")
    lines += [
        "",
        "## Cost",
        f"{state.last_iteration} iterations, ${state.usage.cost_usd:.4f}",
        "",
        f"Delivered by samoflow session `{spec.name}`.",
    ]
    return "\n".join(lines) + "\n"


def _deliver(files: SessionFiles, spec: SessionSpec, config: DeliveryConfig) -> DeliveryRecord:
    proposal = Proposal(
        base=spec.base_branch,
        branch=spec.branch,
        title=spec.task.splitlines()[0][:72],
        body=pull_request_body(spec, load_state(files)),
        body_file=files.pull_request_body,
    )
    return push_and_propose(Path(spec.working_dir), config, proposal)


def deliver_session(files: SessionFiles) -> HistoryEntry:
    """Push and propose; the recorded entry is `done` (delivered) or `blocked: delivery`."""
    spec = read_spec(files.spec)
    state = load_state(files)
    last = state.entries[-1]
    try:
        record = _deliver(files, spec, delivery_config(files))
    except ProjectError as error:
        record = DeliveryRecord(branch=spec.branch, error=str(error))
    if record.error is not None:
        entry = system_entry(
            last.iteration,
            last.phase,
            outcome=Outcome.BLOCKED,
            reason=f"delivery: {record.error}",
            needs="delivery",
        )
    else:
        where = f"pushed {record.branch} to {record.remote}"
        pr = f"; pull request {record.pull_request_url}" if record.pull_request_url else ""
        entry = system_entry(
            last.iteration,
            last.phase,
            outcome=Outcome.DONE,
            summary=f"{last.summary or 'done'} ({where}{pr})",
        )
    entry = entry.model_copy(update={"delivery": record})
    append_entry(files.history, entry)
    return entry
