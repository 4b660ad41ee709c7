"""A convoy plan (`plan.toml`): the sessions to run as one batch, read and checked."""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from samoflow.convoy.record import ConvoyError, slug
from samoflow.session.spec import AgentKind


class PlannedSession(BaseModel):
    """One `[[sessions]]` table of a plan file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    task: str = Field(min_length=1)
    dive: str | None = None
    agent: AgentKind = AgentKind.SCRIPTED
    agent_command: str | None = None  # command agent: the CLI line; claude: the binary
    model: str | None = None
    scenario: str | None = None  # scripted agent: a file (relative to the plan) or built-in
    auto_approve: bool = False
    timeout_seconds: float | None = None
    account: str | None = None  # the account it spends (None: the setting, else kind + key)
    checks: tuple[str, ...] | None = None  # overrides the project's `[checks]` commands
    changes_nothing: bool = False  # done needs no commit of its own (DESIGN §9)

    _check_name = field_validator("name")(slug)


class ConvoyPlan(BaseModel):
    """`plan.toml`: name, base_branch, concurrency, notify_on_complete, [[sessions]]."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    base_branch: str | None = None  # None: the project's base branch
    concurrency: int | None = Field(default=None, ge=1)  # None: the convoy_concurrency setting
    notify_on_complete: bool = True
    sessions: tuple[PlannedSession, ...] = Field(min_length=1)

    _check_name = field_validator("name")(slug)

    @field_validator("sessions")
    @classmethod
    def _unique(cls, value: tuple[PlannedSession, ...]) -> tuple[PlannedSession, ...]:
        names = [s.name for s in value]
        doubles = sorted({n for n in names if names.count(n) > 1})
        if doubles:
            raise ValueError(f"session names appear twice: {', '.join(doubles)}")
        return value


def load_plan(path: Path) -> ConvoyPlan:
    """Parse a plan; scenario paths are taken relative to the plan's folder."""
    try:
        plan = ConvoyPlan.model_validate(tomllib.loads(path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ConvoyError(f"cannot read the plan {path}: {error}") from error
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ConvoyError(f"plan {path}: field {where!r}: {first['msg']}") from error
    sessions = tuple(
        s.model_copy(update={"scenario": str((path.parent / s.scenario).resolve())})
        if s.scenario and (path.parent / s.scenario).is_file()
        else s
        for s in plan.sessions
    )
    return plan.model_copy(update={"sessions": sessions})
