"""A handoff samoflow makes itself: the agent's context passed the fraction, so the agent is
ended at the next turn boundary and a `handoff` signal with the state built from its stream
is left in its place; the judge records it and the fresh agent gets it (cooldown holds).
"""

from __future__ import annotations

import json

from samoflow.agents.claude_context import ContextReport, ContextWatch
from samoflow.agents.process import kill_process_group
from samoflow.atomic import atomic_write_text
from samoflow.session.files import SessionFiles
from samoflow.session.journal import IterationJournal
from samoflow.session.phases import Phase
from samoflow.session.state import load_state
from samoflow.settings import Settings


def cooldown_over(files: SessionFiles, phase: Phase, settings: Settings) -> bool:
    """The judge would accept a handoff now (the same rule: iterations since the last one)."""
    since = load_state(files).standing_for(phase).iterations_since_handoff
    return since is None or since >= settings.handoff_cooldown_iterations


class ContextStop:
    """Ends the agent once, at the turn boundary after its context crossed the fraction."""

    def __init__(self, watch: ContextWatch | None, allowed: bool) -> None:
        self.watch = watch if allowed else None
        self.ended = False

    def check(self, agent_pid: int | None) -> None:
        if self.watch is None or self.ended or not self.watch.end_now or agent_pid is None:
            return
        self.ended = True
        kill_process_group(agent_pid)

    def leave_signal(self, files: SessionFiles) -> None:
        """The agent's handoff, written by samoflow: what the fresh agent starts from."""
        if not self.ended or self.watch is None:
            return
        report = self.watch.report(ended_for_handoff=True)
        signal = {
            "status": "handoff",
            "summary": (
                f"samoflow handed off: context at {report.peak_fraction:.0%} of "
                f"{report.window_tokens:,} tokens; a fresh agent continues from this state"
            ),
            "state": self.watch.handoff_state(),
        }
        atomic_write_text(files.signal, json.dumps(signal, indent=2))

    def report(self) -> ContextReport | None:
        return self.watch.report(self.ended) if self.watch is not None else None


def with_context(journal: IterationJournal, report: ContextReport | None) -> IterationJournal:
    if report is None:
        return journal
    return journal.model_copy(
        update={
            "context_peak_tokens": max(journal.context_peak_tokens, report.peak_tokens),
            "context_window_tokens": report.window_tokens or journal.context_window_tokens,
            "compactions": journal.compactions + report.compactions,
        }
    )
