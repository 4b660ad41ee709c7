"""`_qa.md`: the questions an agent asks at a gate and the human answers, in samocode's form."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from samoflow.atomic import atomic_write_text
from samoflow.session.gate import GateAnswer


def record_answer(path: Path, answer: GateAnswer, iteration: int, phase: str) -> None:
    """Append the answer under its own heading; the agent's questions stay as they are."""
    existing = path.read_text(encoding="utf-8") if path.exists() else "# Q&A\n"
    verdict = "approved" if answer.approve else "not approved: revise"
    block = (
        f"\n## Answer after iteration {iteration} ({phase}, {verdict})\n"
        f"Answered by {answer.answered_by} at {datetime.now(UTC):%Y-%m-%d %H:%M} UTC\n\n"
        f"{answer.text.strip()}\n"
    )
    atomic_write_text(path, existing.rstrip("\n") + "\n" + block)
