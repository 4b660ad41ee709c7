"""What samoflow tells a human (done, blocked, waiting, stalled), independent of the channel."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from samoflow.session.files import SessionFiles
from samoflow.session.state import load_state


class NoticeKind(StrEnum):
    DONE = "done"
    BLOCKED = "blocked"
    WAITING = "waiting"
    STALLED = "stalled"
    RATE_LIMITED = "rate-limited"
    OVER_BUDGET = "over budget"
    BUDGET_WARNING = "near its budget"


class Notice(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: NoticeKind
    session: str
    phase: str
    iteration: int
    text: str  # the summary or the reason
    cost_usd: float = 0.0
    next_step: str = ""  # what the human can do about it

    def headline(self) -> str:
        icon = {
            "done": "✅",
            "blocked": "⛔",
            "waiting": "⏸️",
            "stalled": "🐢",
            "rate-limited": "⏳",
            "over budget": "💸",
            "near its budget": "💰",
        }.get(self.kind.value, "ℹ️")
        return f"{icon} samoflow session `{self.session}` is {self.kind.value}"

    def plain_text(self) -> str:
        lines = [
            self.headline(),
            f"phase {self.phase}, iteration {self.iteration}, cost ${self.cost_usd:.4f}",
            self.text,
        ]
        if self.next_step:
            lines.append(f"next: {self.next_step}")
        return "\n".join(lines)


def session_notice(
    files: SessionFiles,
    kind: NoticeKind,
    text: str,
    next_step: str = "",
    *,
    phase: str | None = None,
    iteration: int | None = None,
) -> Notice:
    """The one way to tell a human about a session: where it stands and what it cost, from disk."""
    state = load_state(files)
    return Notice(
        kind=kind,
        session=files.name,
        phase=phase if phase is not None else state.phase.value,
        iteration=iteration if iteration is not None else state.last_iteration,
        text=text,
        cost_usd=state.usage.cost_usd,
        next_step=next_step,
    )
