"""`samoflow prompt`: what the next agent is told, with the project's overrides and context."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from samoflow.loop.instructions import PromptError, PromptSources, instructions_for
from samoflow.project import PromptConfig
from samoflow.session.phases import Phase
from tests.support.sessions import new_session

TOML = (
    'main_repo = "."\nworktrees = ".samoflow/worktrees"\nsessions = ".samoflow/sessions"\n{extra}'
)


def prompt_cli(repo: Path, session: str = "s1") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "samoflow.cli", "prompt", session, "--repo", str(repo)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_prompt_shows_the_builtin_instructions_then_a_project_override(repo: Path) -> None:
    (repo / ".samoflow.toml").write_text(TOML.format(extra=""))
    new_session(repo)
    builtin = prompt_cli(repo)
    assert builtin.returncode == 0, builtin.stdout + builtin.stderr
    assert (
        "## Phase: init" in builtin.stdout and "# How a samoflow iteration works" in builtin.stdout
    )
    assert "=== prompt ===" in builtin.stdout and "- Iteration: 1 (attempt 1)" in builtin.stdout

    override = repo / ".samoflow" / "prompts" / "init.md"
    override.parent.mkdir(parents=True)
    override.write_text("## Phase: init (our way)\nWrite the overview in French.\n")
    (repo / ".samoflow" / "prompts" / "coordinator.md").write_text("## Role: our coordinator\n")
    shown = prompt_cli(repo)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert "Write the overview in French." in shown.stdout
    assert f"<!-- from {override} -->" in shown.stdout
    assert "## Phase: init\n" not in shown.stdout  # replaced, not appended
    assert "## Role: our coordinator" in shown.stdout and "## Role: coordinator" not in shown.stdout


def test_named_context_files_are_given_and_a_missing_one_is_an_error(repo: Path) -> None:
    (repo / ".samoflow.toml").write_text(
        TOML.format(extra='[prompts]\ncontext = ["CLAUDE.md", "AGENTS.md"]\n')
    )
    new_session(repo)
    (repo / "CLAUDE.md").write_text("Use tabs. Run `make check`.\n")
    missing = prompt_cli(repo)
    assert missing.returncode == 2
    assert "AGENTS.md (context file named in .samoflow.toml) does not exist" in missing.stdout
    (repo / "AGENTS.md").write_text("Agents: never push.\n")
    shown = prompt_cli(repo)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert "## Project context: CLAUDE.md\n\nUse tabs. Run `make check`." in shown.stdout
    assert "## Project context: AGENTS.md\n\nAgents: never push." in shown.stdout


def test_an_unreadable_override_is_an_error_not_a_fallback(repo: Path) -> None:
    (repo / ".samoflow.toml").write_text(TOML.format(extra=""))
    new_session(repo)
    override = repo / ".samoflow" / "prompts" / "init.md"
    override.parent.mkdir(parents=True)
    override.write_bytes(b"\xff\xfe not text")
    result = prompt_cli(repo)
    assert result.returncode == 2 and "project prompt override) is unreadable" in result.stdout
    run = subprocess.run(
        [sys.executable, "-m", "samoflow.cli", "run", "--session", "s1", "--repo", str(repo)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2 and "is unreadable" in run.stdout  # refused before it starts


def test_a_taken_over_session_can_use_samocodes_agent_files(tmp_path: Path) -> None:
    agents = tmp_path / "agents"
    agents.mkdir()
    (agents / "implementation-agent.md").write_text(
        "---\nname: implementation-agent\nmodel: opus\n---\n# Implementation Phase Agent\n"
    )
    sources = PromptSources(
        main_repo=tmp_path, config=PromptConfig(samocode_agents="agents"), taken_over=True
    )
    text = instructions_for(Phase.IMPLEMENTATION, "coordinator", sources)
    assert "# Implementation Phase Agent" in text and "model: opus" not in text
    assert "## Phase: implementation" not in text
    with pytest.raises(PromptError, match=r"testing-agent\.md \(samocode agent named"):
        instructions_for(Phase.TESTING, "coordinator", sources)
    not_taken_over = sources.model_copy(update={"taken_over": False})
    assert "## Phase: implementation" in instructions_for(
        Phase.IMPLEMENTATION, "coordinator", not_taken_over
    )
