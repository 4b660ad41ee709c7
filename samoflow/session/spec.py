"""`_session.json`: what a session is (task, repo, agent), enough to restart it from disk."""

from __future__ import annotations

import threading
from datetime import datetime
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from samoflow.atomic import atomic_write_model
from samoflow.clock import utcnow
from samoflow.session.files import SessionFiles


class AgentKind(StrEnum):
    SCRIPTED = "scripted"
    COMMAND = "command"
    CLAUDE = "claude"
    CODEX = "codex"


class AgentSpec(BaseModel):
    """Which CLI runs the iterations. Never holds secrets: those stay in Blocks."""

    model_config = ConfigDict(frozen=True)

    kind: AgentKind = AgentKind.SCRIPTED
    command: str | None = None  # command agent: the CLI line; claude: the binary path
    scenario: str | None = None  # scripted agent: the scenario file
    model: str | None = None
    max_turns: int = 300
    timeout_seconds: float | None = None  # None: the agent_timeout_seconds setting
    env: dict[str, str] = Field(default_factory=dict)
    account: str | None = None  # None: the `account` setting, else kind + key fingerprint
    # An AgentConfig block: its kind, command, model, max_turns, timeout and base_url replace
    # these fields before every attempt, and its API key reaches the agent process only.
    block: str | None = None


class Role(StrEnum):
    COORDINATOR = "coordinator"
    WORKER = "worker"


class SessionSpec(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    task: str
    dive: str | None = None
    repo: str  # the main repository
    working_dir: str  # the worktree the agent runs in
    branch: str
    base_branch: str
    base_commit: str | None = None  # the commit the branch started from (None: older sessions)
    role: Role = Role.COORDINATOR
    convoy: str | None = None
    agent: AgentSpec = Field(default_factory=AgentSpec)
    auto_approve_gates: bool = False
    taken_over_from: str | None = None  # "samocode": a folder samoflow adopted, not created
    # The session's own check commands, overriding the project's `[checks]` ones (None: those).
    checks: tuple[str, ...] | None = None
    # A task that changes no file (research, a report): done needs no commit beyond the base.
    changes_nothing: bool = False
    created_at: datetime = Field(default_factory=utcnow)


def write_spec(path: Path, spec: SessionSpec) -> None:
    atomic_write_model(path, spec)


# path -> (its file's identity when read, the spec): a loop reads the spec several times an
# iteration. Every write replaces the file (a new inode), so a changed spec is read again.
_READ: dict[str, tuple[tuple[int, int, int, int], SessionSpec]] = {}
_READ_GUARD = threading.Lock()


def read_spec(path: Path) -> SessionSpec:
    info = path.stat()  # a missing spec raises as reading it would
    identity = (info.st_dev, info.st_ino, info.st_mtime_ns, info.st_size)
    key = str(path)
    with _READ_GUARD:
        known = _READ.get(key)
    if known is not None and known[0] == identity:
        return known[1]  # frozen: shared safely
    spec = SessionSpec.model_validate_json(path.read_text(encoding="utf-8"))
    with _READ_GUARD:
        _READ[key] = (identity, spec)
    return spec


def is_taken_over(files: SessionFiles) -> bool:
    return files.spec.exists() and read_spec(files.spec).taken_over_from is not None
