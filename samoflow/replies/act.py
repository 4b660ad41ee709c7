"""Carry out one reply's action on its session; the answer goes back to the chat.

What needs Prefect (resuming a paused gate run, starting a session run, storing an inbox
message) comes in as `ReplyEffects`, so this stays domain code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from samoflow.health.stop_pause import pause_session, resume_session, stop_sessions
from samoflow.replies.actions import Action, ActionKind
from samoflow.session.files import SessionFiles
from samoflow.session.gate import GateAnswer
from samoflow.session.state import Lifecycle, load_state, report_of
from samoflow.session.store import leave_answer
from samoflow.settings import Settings


@dataclass(frozen=True)
class ReplyEffects:
    resume_gate_run: Callable[[str, GateAnswer], bool]  # the paused run's id: True if resumed
    start_session: Callable[[SessionFiles], str]  # says where it runs now
    send_inbox: Callable[[SessionFiles, str, str], None]  # files, text, sender slug
    release_gate: Callable[[SessionFiles], None]  # a stopped session's paused gate run ends


def status_line(files: SessionFiles) -> str:
    report = report_of(files)
    note = report.reason or report.summary
    line = (
        f"{report.session}: {report.lifecycle} in phase {report.phase} after "
        f"{report.iterations} iterations, ${report.usage.cost_usd:.4f}"
    )
    return f"{line}; {note}" if note else line


def _answer(files: SessionFiles, action: Action, who: str, effects: ReplyEffects) -> str:
    if load_state(files).lifecycle is not Lifecycle.WAITING:
        return f"{files.name} is not waiting for an answer: nothing done"
    given = GateAnswer(text=action.text, approve=action.approve, answered_by=who)
    run_id = leave_answer(files, given)
    verdict = "approved" if action.approve else "not approved (the agent revises)"
    if run_id and effects.resume_gate_run(run_id, given):
        return f"{files.name}: {verdict}; the paused run goes on"
    return f"{files.name}: {verdict}; the answer is saved for its next run"


def carry_out(
    files: SessionFiles, action: Action, who: str, sender: str, effects: ReplyEffects,
    settings: Settings,
) -> str:
    """One action, done; the sentence to answer in the chat."""
    kind = action.kind
    if kind is ActionKind.ANSWER:
        return _answer(files, action, who, effects)
    if kind is ActionKind.INBOX:
        effects.send_inbox(files, action.text, sender)
        return f"sent to {files.name}'s inbox: its next iteration reads it"
    if kind is ActionKind.STATUS:
        return status_line(files)
    if kind is ActionKind.STOP:
        outcome = stop_sessions([files], who, settings, effects.release_gate)[0]
        return f"{files.name}: {outcome.detail}"
    if kind is ActionKind.PAUSE:
        return f"{files.name}: {pause_session(files, who, settings).detail}"
    if kind is ActionKind.RESUME:
        outcome = resume_session(files, who)
        started = f"; {effects.start_session(files)}" if outcome.done else ""
        return f"{files.name}: {outcome.detail}{started}"
    return "unknown command: use /status, /stop, /pause or /resume"
