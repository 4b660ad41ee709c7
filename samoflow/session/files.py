"""The one place that knows the file names inside a session folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class SessionFiles:
    root: Path

    @property
    def is_worker(self) -> bool:
        """`<coordinator>/workers/<name>/` under a real session (roles.py owns the rule)."""
        return self.root.parent.name == "workers" and (
            self.root.parent.parent / "_session.json"
        ).exists()

    @property
    def name(self) -> str:
        """A worker's name is `<coordinator>--<worker>`: unique in the project, like its branch."""
        if self.is_worker:
            return f"{self.root.parent.parent.name}--{self.root.name}"
        return self.root.name

    @property
    def sessions_root(self) -> Path:
        return self.root.parent.parent.parent if self.is_worker else self.root.parent

    @property
    def spec(self) -> Path:
        return self.root / "_session.json"

    @property
    def overview(self) -> Path:
        return self.root / "_overview.md"

    @property
    def hook(self) -> Path:
        return self.root / "_hook.json"

    @property
    def signal(self) -> Path:
        return self.root / "_signal.json"

    @property
    def history(self) -> Path:
        return self.root / "_signal_history.jsonl"

    @property
    def qa(self) -> Path:
        return self.root / "_qa.md"

    @property
    def handoff(self) -> Path:
        return self.root / "_handoff.json"

    @property
    def journal(self) -> Path:
        """The iteration in flight: which one, which attempt, which agent process."""
        return self.root / "_iteration.json"

    @property
    def gate(self) -> Path:
        return self.root / "_gate.json"

    @property
    def lease(self) -> Path:
        return self.root / "_lease.json"

    @property
    def logs(self) -> Path:
        return self.root / "_logs"

    @property
    def prompts(self) -> Path:
        return self.root / "_logs" / "prompts"

    @property
    def inbox(self) -> Path:
        return self.root / "_inbox"

    @property
    def inbox_read(self) -> Path:
        return self.root / "_inbox" / "read"

    @property
    def workers(self) -> Path:
        return self.root / "workers"

    def iteration_log(self, iteration: int, attempt: int, phase: str) -> Path:
        return self.logs / f"{iteration:04d}-{phase}-attempt{attempt}.log"

    def prompt_file(self, iteration: int, attempt: int) -> Path:
        return self.prompts / f"{iteration:04d}-attempt{attempt}.md"
