"""The `command` agent: any CLI; the prompt arrives on stdin and in SAMOFLOW_PROMPT_FILE."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from samoflow.agents.base import AgentRequest, OutputObserver
from samoflow.agents.environment import agent_environment
from samoflow.economy.usage_report import UsageReportObserver


@dataclass
class CommandAgent:
    argv: list[str]
    name: str = "command"
    extra_env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_command_line(cls, command_line: str) -> CommandAgent:
        argv = shlex.split(command_line)
        if not argv:
            raise ValueError("the command agent needs a command (--agent-command)")
        return cls(argv=argv)

    def command(self, request: AgentRequest) -> list[str]:
        return list(self.argv)

    def environment(self, request: AgentRequest) -> dict[str, str]:
        return {**agent_environment(request), **self.extra_env}

    def stdin_text(self, request: AgentRequest) -> str | None:
        return f"{request.instructions}\n\n{request.prompt}"

    def observer(self) -> OutputObserver:
        return UsageReportObserver()
