"""Scenario files for the scripted agent: what it does at each iteration, on purpose."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

BUILTIN_DIR = Path(__file__).resolve().parent / "scenarios"


class ScenarioError(ValueError):
    """A scenario file that cannot be followed."""


class Step(BaseModel):
    """One iteration of the scripted agent. Actions run in field order below."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    summary: str = ""
    sleep: float = 0.0
    wait_for: str | None = None  # a path: the step waits until it exists (a test acts meanwhile)
    hang_on_attempts: list[int] = Field(default_factory=list)
    kill_on_attempts: list[int] = Field(default_factory=list)  # SIGKILL itself
    crash_on_attempts: list[int] = Field(default_factory=list)  # exit 3 before signalling
    overview: str | None = None  # "init" creates it, "update" records the iteration
    # A merge-queue fix-up: `git merge` the integration branch the message names, conflicts
    # resolved by this rule ("union" keeps both sides' lines), before `write` and `commit`.
    merge_integration: Literal["ours", "theirs", "union"] | None = None
    write: dict[str, str] = Field(default_factory=dict)  # paths in the working dir
    commit: str | None = None
    echo_inbox: bool = False  # copy unread inbox messages into the overview
    echo_handoff: bool = False  # copy the handed-off state into the overview
    send: list[dict[str, str]] = Field(default_factory=list)  # `_outbox/` messages {to, text}
    usage: dict[str, float] | None = None  # reported through the SAMOFLOW_USAGE hook
    signal: dict[str, Any] | None = None
    raw_signal: str | None = None  # written as is (garbage on purpose)
    exit_code: int = 0


class Scenario(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = "scenario"
    repeat_last: bool = False
    steps: list[Step]
    # Played from its start when a `merge_fixup` message is in the inbox, one per iteration.
    on_merge_fixup: list[Step] = Field(default_factory=list)
    # Run instead of the next step while a `check_failure` message is unread; the steps
    # after it keep their order (each handled failure shifts them by one iteration).
    on_check_failure: Step | None = None

    def step_for(self, iteration: int) -> Step | None:
        if 1 <= iteration <= len(self.steps):
            return self.steps[iteration - 1]
        return self.steps[-1] if self.repeat_last and self.steps else None


def resolve_scenario_path(name_or_path: str) -> Path:
    """A file path, or the name of a built-in scenario (`full`, `demo`)."""
    path = Path(name_or_path)
    if path.is_file():
        return path.resolve()
    builtin = BUILTIN_DIR / f"{name_or_path}.toml"
    if builtin.is_file():
        return builtin
    raise ScenarioError(f"scenario {name_or_path!r} is neither a file nor a built-in scenario")


def load_scenario(path: Path) -> Scenario:
    try:
        return Scenario.model_validate(tomllib.loads(path.read_text(encoding="utf-8")))
    except (OSError, tomllib.TOMLDecodeError, ValidationError) as error:
        raise ScenarioError(f"scenario {path} is unusable: {error}") from error
