"""The `codex` agent: OpenAI's Codex CLI, `codex exec --json`, in the session's worktree.

Observed with codex-cli 0.171.0: stdout is JSONL - `thread.started`, `turn.started`,
`item.started` / `item.completed` (`agent_message`, `command_execution`, `error`, ...),
then `turn.completed` with `usage` {input_tokens (cached included), cached_input_tokens,
cache_write_input_tokens, output_tokens, reasoning_output_tokens}, or `turn.failed`
{error: {message}} and top-level `error` {message} events. Usage limits arrive as those
messages ("You've hit your usage limit. ... try again at 3:05 PM."). The sandbox is
`--sandbox workspace-write` with the session folder added as a writable directory (the
agent writes `_signal.json` there). Codex has no system-prompt flag: the instructions go
first in the prompt.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict

from samoflow.agents.base import AgentRequest, OutputObserver
from samoflow.agents.environment import agent_environment
from samoflow.economy.rate_limit import GENERIC_PATTERN, RateLimit, from_text
from samoflow.session.history import Usage


class _TurnUsage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    input_tokens: int = 0
    cached_input_tokens: int = 0
    cache_write_input_tokens: int = 0
    output_tokens: int = 0


def _message(obj: dict[str, Any]) -> str | None:
    if obj.get("type") == "error":
        return str(obj.get("message") or "")
    if obj.get("type") == "turn.failed":
        error = obj.get("error")
        return str(error.get("message") or "") if isinstance(error, dict) else str(error or "")
    return None


class CodexObserver:
    """Sums `turn.completed` usage; keeps the last failure (turn.failed / error)."""

    def __init__(self) -> None:
        self._usage = Usage()
        self._failure: str | None = None

    def feed(self, line: str) -> None:
        try:
            obj = json.loads(line)
        except ValueError:
            return  # codex prints warnings to stderr; a stray stdout line is not an event
        if not isinstance(obj, dict):
            return
        if obj.get("type") == "turn.completed" and isinstance(obj.get("usage"), dict):
            self._usage = self._usage + _usage_of(_TurnUsage.model_validate(obj["usage"]))
        elif (message := _message(obj)) is not None:
            self._failure = message.strip() or "codex reported an error"

    def usage(self) -> Usage:
        return self._usage

    def error(self) -> str | None:
        return f"codex reported an error: {self._failure[:300]}" if self._failure else None

    def unhealable(self) -> str | None:
        return None  # codex's login and key errors are not measured here yet: retried as before

    def rate_limit(self, failed: bool) -> RateLimit | None:
        if self._failure is None or not GENERIC_PATTERN.search(self._failure):
            return None
        return from_text(self._failure)

    def context(self) -> None:
        return None  # codex's stream does not report its context window


def _usage_of(turn: _TurnUsage) -> Usage:
    # OpenAI counts cached tokens inside input_tokens; samoflow keeps them apart (as Claude).
    return Usage(
        input_tokens=max(0, turn.input_tokens - turn.cached_input_tokens),
        cache_read_input_tokens=turn.cached_input_tokens,
        cache_creation_input_tokens=turn.cache_write_input_tokens,
        output_tokens=turn.output_tokens,
    )


def find_codex(explicit: str | None) -> str:
    if explicit:
        return explicit
    found = shutil.which("codex")
    if found is None:
        raise FileNotFoundError(
            "the codex binary is not on PATH: `npm install -g @openai/codex` "
            "or pass its path with --agent-command"
        )
    return found


@dataclass
class CodexAgent:
    binary: str
    model: str | None = None
    sandbox: str = "workspace-write"
    extra_env: dict[str, str] = field(default_factory=dict)
    name: str = "codex"

    def command(self, request: AgentRequest) -> list[str]:
        argv = [self.binary, "exec", "--json", "--sandbox", self.sandbox]
        argv += ["--skip-git-repo-check", "-C", str(request.working_dir)]
        argv += ["--add-dir", str(request.session_dir)]
        if self.model:
            argv += ["-m", self.model]
        return [*argv, "-"]  # the prompt on stdin

    def environment(self, request: AgentRequest) -> dict[str, str]:
        return {**agent_environment(request), **self.extra_env}

    def stdin_text(self, request: AgentRequest) -> str | None:
        return f"{request.instructions}\n\n---\n\n{request.prompt}"

    def observer(self) -> OutputObserver:
        return CodexObserver()
