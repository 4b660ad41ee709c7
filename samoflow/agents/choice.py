"""Which agent a new session gets: claude by default when its binary is found, never a silent
stand-in (the scripted agent commits demo files, so it is chosen on purpose only)."""

from __future__ import annotations

from samoflow.agents.claude import find_claude
from samoflow.session.spec import AgentKind


class NoAgentError(ValueError):
    """The agent asked for (or the default, claude) cannot run here: says how to fix it."""


def choose_agent(kind: AgentKind | None, command: str | None) -> tuple[AgentKind, str | None]:
    """(kind, command) for a new session; claude's command is the binary found now."""
    if kind is not None and kind is not AgentKind.CLAUDE:
        return kind, command
    try:
        return AgentKind.CLAUDE, find_claude(command)
    except FileNotFoundError as error:
        why = "samoflow runs Claude Code by default, but " if kind is None else ""
        # The binary's own error already says how to install it or point at it.
        raise NoAgentError(
            f"{why}{error}; or pass `--agent scripted` on purpose: samoflow's demo agent, "
            "which commits demo files into the repository"
        ) from error
