"""The adapter interface every agent CLI implements, and what one run returns."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

from samoflow.agents.claude_context import ContextReport, ContextWatch
from samoflow.economy.rate_limit import RateLimit
from samoflow.session.history import Usage


class AgentRequest(BaseModel):
    """Everything one agent process needs; built by the orchestrator per attempt."""

    model_config = ConfigDict(frozen=True)

    session_dir: Path
    working_dir: Path
    hook_path: Path
    prompt: str  # the per-iteration prompt (user turn)
    instructions: str  # workflow + phase + role instructions (system side)
    prompt_file: Path
    log_path: Path
    phase: str
    iteration: int
    attempt: int
    role: str
    timeout_seconds: float
    env: dict[str, str] = Field(default_factory=dict)


class AgentResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    exit_code: int | None
    timed_out: bool = False
    duration_seconds: float
    usage: Usage = Field(default_factory=Usage)
    output_tail: str = ""
    error: str | None = None  # what the adapter itself saw go wrong (e.g. an API error)
    rate_limit: RateLimit | None = None  # limited, not failed: wait for the reset, run again
    context: ContextReport | None = None  # context use, when the agent's stream tells it
    unhealable: str | None = None  # an error no retry heals (no login, bad key): with its fix

    @property
    def failed(self) -> bool:
        if self.context is not None and self.context.ended_for_handoff:
            return False  # samoflow ended it on purpose, with a handoff signal left for it
        return self.timed_out or self.exit_code != 0 or self.error is not None

    def failure_reason(self) -> str:
        if self.timed_out:
            return f"agent timed out after {self.duration_seconds:.0f} s"
        if self.error:
            return self.error
        if self.exit_code is not None and self.exit_code < 0:
            return f"agent was killed by signal {-self.exit_code}"
        return f"agent exited with code {self.exit_code}"


class OutputObserver(Protocol):
    """Reads the agent's output lines as they arrive (usage, progress, errors)."""

    def feed(self, line: str) -> None: ...

    def usage(self) -> Usage: ...

    def error(self) -> str | None: ...

    def unhealable(self) -> str | None:
        """An error that retrying cannot heal (not logged in, a refused key), with its fix."""
        ...

    def rate_limit(self, failed: bool) -> RateLimit | None:
        """The limit the agent ran into; generic output patterns count only when it failed."""
        ...

    def context(self) -> ContextWatch | None:
        """The context watch, for agents whose stream reports context use."""
        ...


class AgentAdapter(Protocol):
    name: str

    def command(self, request: AgentRequest) -> list[str]: ...

    def environment(self, request: AgentRequest) -> dict[str, str]: ...

    def stdin_text(self, request: AgentRequest) -> str | None: ...

    def observer(self) -> OutputObserver: ...
