"""What a person sees: samoflow's own lines in the terminal, Prefect's logs in a file."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.convoys import full_scenario, write_plan

# Prefect's console format: "14:58:10.000 | INFO    | prefect - ..."
PREFECT_LINE = re.compile(r"\d\d:\d\d:\d\d\.\d{3} \| (DEBUG|INFO|WARNING|ERROR|CRITICAL) +\|")
BLOCKS_AT_ONCE = '[[steps]]\nsignal = { status = "blocked", reason = "the database is down" }\n'

pytestmark = pytest.mark.usefixtures("prefect_api")


def samoflow(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "samoflow.cli", *args, "--repo", str(repo)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "200"},
    )


def test_a_session_prints_one_line_per_iteration_and_no_prefect_log(repo: Path) -> None:
    result = samoflow(repo, "run", "add a greeting", "--agent", "scripted", "--auto-approve")
    shown = result.stdout + result.stderr
    assert result.returncode == 0, shown[-3000:]
    assert not PREFECT_LINE.search(shown), shown[-3000:]
    rows = [line.split() for line in shown.splitlines() if re.match(r"\s+#\d+ ", line)]
    iterations = [row for row in rows if row[2] != "answered"]  # the two gates, by policy
    assert [row[0] for row in iterations] == [f"#{n}" for n in range(1, 9)]
    assert iterations[-1][1:3] == ["done", "done"]
    worktree = repo / ".samoflow/worktrees/add-a-greeting"
    assert f"work: branch samoflow/add-a-greeting in {worktree}\n" in shown  # where to look
    assert f"Prefect UI: {os.environ['PREFECT_API_URL'].removesuffix('/api')}\n" in shown
    log = repo / ".samoflow/sessions/add-a-greeting/_logs/orchestrator.log"
    assert "Finished in state Completed" in log.read_text(encoding="utf-8")


def test_verbose_brings_prefect_logs_back(repo: Path) -> None:
    result = samoflow(
        repo, "run", "add a greeting", "--agent", "scripted", "--auto-approve", "--verbose"
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert PREFECT_LINE.search(result.stdout + result.stderr)


def test_a_blocked_session_says_what_failed_and_what_to_do(repo: Path, tmp_path: Path) -> None:
    scenario = tmp_path / "blocks.toml"
    scenario.write_text(BLOCKS_AT_ONCE, encoding="utf-8")
    result = samoflow(
        repo, "run", "add a greeting", "--agent", "scripted", "--scenario", str(scenario),
        "--session", "stuck",
    )
    shown = result.stdout + result.stderr
    assert result.returncode == 1, shown[-3000:]
    assert not PREFECT_LINE.search(shown), shown[-3000:]
    assert "reason: the database is down" in shown
    assert "`samoflow run --session stuck`" in shown


def test_a_convoy_shows_its_members_and_no_prefect_log(repo: Path) -> None:
    plan = write_plan(repo.parent, "quiet", {"a": full_scenario(), "b": full_scenario()})
    result = samoflow(repo, "convoy", str(plan))
    shown = result.stdout + result.stderr
    assert result.returncode == 0, shown[-3000:]
    assert not PREFECT_LINE.search(shown), shown[-3000:]
    assert re.search(r"^\s+a\s.*done", shown, re.M) and re.search(r"^\s+b\s.*done", shown, re.M)
    assert "integration branch: samoflow/convoy/quiet" in shown
    # Not a terminal: the final table is plain lines, one a member, not a box cut to 80 columns.
    final = [line for line in shown.splitlines() if re.match(r"[ab]: done · phase done · ", line)]
    assert [line[0] for line in final] == ["a", "b"], shown[-3000:]
    assert all(
        "· verified: not configured (unverified) · merged · merge queue: unverified (no checks)"
        in line
        for line in final
    )
    assert not re.search("[┏┃│└]", shown)
    assert f"Prefect UI:         {os.environ['PREFECT_API_URL'].removesuffix('/api')}\n" in shown
    assert "Slack message" in shown and '"blocks"' not in shown
    log = repo / ".samoflow/sessions/_convoys/quiet.log"
    assert "samoflow-convoy" in log.read_text(encoding="utf-8")
