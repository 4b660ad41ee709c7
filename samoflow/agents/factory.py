"""Build the adapter a session's AgentSpec names."""

from __future__ import annotations

from samoflow.agents.base import AgentAdapter
from samoflow.agents.command import CommandAgent
from samoflow.agents.scripted import scripted_agent
from samoflow.session.spec import AgentKind, AgentSpec
from samoflow.settings import get_settings


def make_adapter(spec: AgentSpec, secret_env: dict[str, str] | None = None) -> AgentAdapter:
    """`secret_env` (e.g. the Anthropic key from a Block) goes to the agent process only."""
    extra = {**spec.env, **(secret_env or {})}
    if spec.kind is AgentKind.SCRIPTED:
        agent = scripted_agent(spec.scenario or "full")
        agent.extra_env = extra
        return agent
    if spec.kind is AgentKind.COMMAND:
        command = CommandAgent.from_command_line(spec.command or "")
        command.extra_env = extra
        return command
    settings = get_settings()
    if spec.kind is AgentKind.CODEX:
        from samoflow.agents.codex import CodexAgent, find_codex

        return CodexAgent(
            binary=find_codex(spec.command),
            model=spec.model,
            sandbox=settings.codex_sandbox,
            extra_env=extra,
        )
    from samoflow.agents.claude import ClaudeAgent, find_claude  # only sessions that use it

    return ClaudeAgent(
        binary=find_claude(spec.command),
        model=spec.model,
        max_turns=spec.max_turns,
        extra_env=extra,
        context_window_tokens=settings.context_window_tokens,
        context_handoff_fraction=settings.context_handoff_fraction,
    )
