"""Helpers to create sessions on a real repository with a scenario written by the test."""

from __future__ import annotations

from pathlib import Path

from samoflow.project import load_config
from samoflow.session.files import SessionFiles
from samoflow.session.spec import AgentKind, AgentSpec
from samoflow.session.store import create_session


def new_session(
    repo: Path,
    scenario_toml: str | None = None,
    *,
    name: str = "s1",
    auto_approve: bool = True,
    timeout: float | None = None,
    scenario: str = "full",
) -> SessionFiles:
    if scenario_toml is not None:
        path = repo.parent / f"{name}-scenario.toml"
        path.write_text(scenario_toml, encoding="utf-8")
        scenario = str(path)
    return create_session(
        load_config(repo),
        name=name,
        task="add a greeting",
        dive="greeting module",
        agent=AgentSpec(kind=AgentKind.SCRIPTED, scenario=scenario, timeout_seconds=timeout),
        auto_approve_gates=auto_approve,
    )
