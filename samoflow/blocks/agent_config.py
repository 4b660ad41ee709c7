"""AgentConfig: which agent CLI runs a session, and the API key it needs, kept as a secret."""

from __future__ import annotations

from prefect.blocks.core import Block
from pydantic import Field, SecretStr

from samoflow.session.spec import AgentKind, AgentSpec


class AgentConfig(Block):
    """Stored on the Prefect server; the key reaches only the agent process, never a file."""

    _block_type_name = "samoflow-agent-config"
    _description = "Which coding-agent CLI samoflow runs, its model, timeout and API key."

    kind: AgentKind = AgentKind.CLAUDE
    command: str | None = Field(default=None, description="CLI line or claude binary path")
    model: str | None = None
    max_turns: int = 300
    timeout_seconds: float | None = None
    base_url: str | None = Field(default=None, description="ANTHROPIC_BASE_URL (proxies)")
    api_key: SecretStr | None = Field(default=None, description="ANTHROPIC_API_KEY")
    account: str | None = Field(
        default=None, description="The account its sessions spend (limits pause it as one)"
    )

    def apply_to(self, spec: AgentSpec) -> AgentSpec:
        """The session's agent with this block's fields; what the block leaves unset stays."""
        env = {**spec.env, "ANTHROPIC_BASE_URL": self.base_url} if self.base_url else spec.env
        return spec.model_copy(
            update={
                "kind": self.kind,
                "command": self.command or spec.command,
                "model": self.model or spec.model,
                "max_turns": self.max_turns,
                "timeout_seconds": self.timeout_seconds or spec.timeout_seconds,
                "env": env,
                "account": self.account or spec.account,
            }
        )

    def secret_env(self) -> dict[str, str]:
        return {"ANTHROPIC_API_KEY": self.api_key.get_secret_value()} if self.api_key else {}
