"""The `scripted` agent: samoflow's own deterministic agent program, run as a real process."""

from __future__ import annotations

import sys
from pathlib import Path

from samoflow.agents.command import CommandAgent
from samoflow.agents.scenario import load_scenario, resolve_scenario_path


def scripted_agent(scenario: str) -> CommandAgent:
    path = resolve_scenario_path(scenario)
    load_scenario(path)  # refuse a broken scenario before any iteration starts
    argv = [sys.executable, "-m", "samoflow.agents.scripted_agent", "--scenario", str(path)]
    return CommandAgent(argv=argv, name="scripted")


def scenario_path(scenario: str) -> Path:
    return resolve_scenario_path(scenario)
