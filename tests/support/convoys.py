"""Helpers for convoy tests: plan files, scenarios derived from the built-in one, Slack."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

import pytest

from samoflow.agents.scenario import BUILTIN_DIR
from samoflow.convoy.record import ConvoyRecord
from samoflow.settings import get_settings

FULL = (BUILTIN_DIR / "full.toml").read_text(encoding="utf-8")
FIRST_STEP = 'summary = "Session initialized"\n'


def full_scenario(*, sleep: float = 0.0, first_step_extra: str = "") -> str:
    """The built-in 8-step scenario; every step sleeps `sleep` s; extra TOML on step one."""
    text = FULL
    if sleep:
        text = text.replace("[[steps]]\n", f"[[steps]]\nsleep = {sleep}\n")
    return text.replace(FIRST_STEP, FIRST_STEP + first_step_extra, 1)


def writes_shared_file(content: str) -> str:
    """Step one writes and commits `shared.txt`: two such members conflict at merge."""
    return (
        f'write = {{ "shared.txt" = {json.dumps(content)} }}\n'
        'commit = "shared.txt ({session})"\n'
    )


def write_plan(
    folder: Path,
    name: str,
    sessions: dict[str, str],
    *,
    concurrency: int = 3,
    notify: bool = True,
) -> Path:
    """A plan whose sessions (name -> scenario TOML) are scripted and auto-approved."""
    lines = [
        f'name = "{name}"',
        f"concurrency = {concurrency}",
        f"notify_on_complete = {str(notify).lower()}",
    ]
    for session, scenario in sessions.items():
        scenario_path = folder / f"{name}-{session}.toml"
        scenario_path.write_text(scenario, encoding="utf-8")
        lines += [
            "",
            "[[sessions]]",
            f'name = "{session}"',
            f'task = "add the {session} greeting"',
            'agent = "scripted"',
            f'scenario = "{scenario_path.name}"',
            "auto_approve = true",
        ]
    plan = folder / f"{name}.toml"
    plan.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return plan


def use_slack(url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A SlackAlerts block on the Prefect server pointing at `url`, named by the setting."""
    from samoflow.blocks.slack import SlackAlerts

    name = f"slack-{uuid.uuid4().hex[:8]}"
    SlackAlerts(webhook_url=url).save(name, overwrite=True)
    monkeypatch.setenv("SAMOFLOW_SLACK_BLOCK", name)
    monkeypatch.setenv("SAMOFLOW_SLACK_RETRIES", "2")
    get_settings.cache_clear()
    return name


def start_served_convoy(samoflow: list[str], plan: Path, repo: Path, env: dict[str, str]) -> None:
    """`samoflow convoy` against a served setup: it creates the convoy's deployment run."""
    convoy = subprocess.run(
        [*samoflow, "convoy", str(plan), "--repo", str(repo)],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert convoy.returncode == 0, convoy.stdout + convoy.stderr
    assert "deployment run" in convoy.stdout, convoy.stdout


def run_plan(plan: Path, repo: Path) -> ConvoyRecord:
    """What `samoflow convoy PLAN` does unserved: prepare the convoy, then run its flow."""
    from samoflow.convoy.setup import prepare_plan
    from samoflow.flows.convoy import run_convoy_flow

    record_path, _ = prepare_plan(plan, repo, get_settings().convoy_concurrency)
    return run_convoy_flow(str(record_path))
