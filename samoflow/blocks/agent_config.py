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

    def to_spec(self) -> AgentSpec:
        env = {"ANTHROPIC_BASE_URL": self.base_url} if self.base_url else {}
        return AgentSpec(
            kind=self.kind,
            command=self.command,
            model=self.model,
            max_turns=self.max_turns,
            timeout_seconds=self.timeout_seconds,
            env=env,
            account=self.account,
        )

    def secret_env(self) -> dict[str, str]:
        return {"ANTHROPIC_API_KEY": self.api_key.get_secret_value()} if self.api_key else {}
