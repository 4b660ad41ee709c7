"""Scenario files for the scripted agent: what it does at each iteration, on purpose.

`Step` and `Scenario` are standard-library dataclasses that pydantic validates (`load_scenario`,
in the orchestrator, before any iteration starts). The scripted agent itself is a process of
its own per iteration, like any agent CLI: it reads the file it was given with
`read_validated_scenario`, without importing pydantic. Measured here: importing pydantic
and building models cost the agent 0.2 s of CPU per iteration, 0.26 s in all against about
0.05 s now; the test suite runs the agent over 600 times.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

BUILTIN_DIR = Path(__file__).resolve().parent / "scenarios"
# Pydantic reads this from a standard dataclass: an unknown key is an error, not ignored.
_FORBID_EXTRA: dict[str, Any] = {"extra": "forbid"}


class ScenarioError(ValueError):
    """A scenario file that cannot be followed."""


@dataclass(frozen=True)
class Step:
    """One iteration of the scripted agent. Actions run in field order below."""

    __pydantic_config__: ClassVar[dict[str, Any]] = _FORBID_EXTRA

    summary: str = ""
    sleep: float = 0.0
    wait_for: str | None = None  # a path: the step waits until it exists (a test acts meanwhile)
    hang_on_attempts: list[int] = field(default_factory=list)
    kill_on_attempts: list[int] = field(default_factory=list)  # SIGKILL itself
    crash_on_attempts: list[int] = field(default_factory=list)  # exit 3 before signalling
    overview: str | None = None  # "init" creates it, "update" records the iteration
    # A merge-queue fix-up: `git merge` the integration branch the message names, conflicts
    # resolved by this rule ("union" keeps both sides' lines), before `write` and `commit`.
    merge_integration: Literal["ours", "theirs", "union"] | None = None
    write: dict[str, str] = field(default_factory=dict)  # paths in the working dir
    commit: str | None = None
    echo_inbox: bool = False  # copy unread inbox messages into the overview
    echo_handoff: bool = False  # copy the handed-off state into the overview
    send: list[dict[str, str]] = field(default_factory=list)  # `_outbox/` messages {to, text}
    usage: dict[str, float] | None = None  # reported through the SAMOFLOW_USAGE hook
    signal: dict[str, Any] | None = None
    raw_signal: str | None = None  # written as is (garbage on purpose)
    exit_code: int = 0


@dataclass(frozen=True)
class Scenario:
    __pydantic_config__: ClassVar[dict[str, Any]] = _FORBID_EXTRA

    steps: list[Step]
    name: str = "scenario"
    repeat_last: bool = False
    # Played from its start when a `merge_fixup` message is in the inbox, one per iteration.
    on_merge_fixup: list[Step] = field(default_factory=list)
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
    """The scenario at `path`, validated: a wrong type or an unknown key is a ScenarioError."""
    from pydantic import TypeAdapter, ValidationError  # the orchestrator has it loaded anyway

    try:
        return TypeAdapter(Scenario).validate_python(_read_toml(path))
    except (OSError, tomllib.TOMLDecodeError, ValidationError) as error:
        raise ScenarioError(f"scenario {path} is unusable: {error}") from error


def read_validated_scenario(path: Path) -> Scenario:
    """The scenario at `path` for the agent process, which the orchestrator started only
    after `load_scenario` accepted that file: built as it stands, with no second check (a
    file edited since then fails here with Python's own error, an agent crash)."""
    data = _read_toml(path)
    return Scenario(
        **{
            **data,
            "steps": [Step(**step) for step in data.get("steps", [])],
            "on_merge_fixup": [Step(**step) for step in data.get("on_merge_fixup", [])],
            "on_check_failure": (
                Step(**data["on_check_failure"]) if data.get("on_check_failure") else None
            ),
        }
    )


def _read_toml(path: Path) -> dict[str, Any]:
    return tomllib.loads(path.read_text(encoding="utf-8"))
