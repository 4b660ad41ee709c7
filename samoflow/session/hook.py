"""`_hook.json`: the tiny "what to do now" pointer the agent reads first."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from samoflow.atomic import atomic_write_model, read_model
from samoflow.clock import utcnow


class Hook(BaseModel):
    model_config = ConfigDict(frozen=True)

    task_id: str
    session: str
    role: str
    phase: str
    iteration: int
    total_iterations: int
    attempt: int = 1
    convoy: str | None = None
    working_dir: str
    task: str = ""
    inbox_unread: list[str] = Field(default_factory=list)
    handoff: str | None = None
    instructions: str = ""
    checks_red: str | None = None  # the last checks round was red: what failed, where its log is
    updated_at: datetime = Field(default_factory=utcnow)


def write_hook(path: Path, hook: Hook) -> None:
    atomic_write_model(path, hook, durable=False)  # rewritten before every attempt


def read_hook(path: Path) -> Hook | None:
    return read_model(path, Hook)
