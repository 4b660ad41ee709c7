"""`samoflow convoy` and `samoflow clean` from the command line (module entry point)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from samoflow.project import load_config
from samoflow.session.history import HistoryEntry, Outcome, append_entry
from samoflow.session.spec import AgentSpec
from samoflow.session.store import create_session


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "samoflow.cli.convoy", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "250"},
    )


def test_a_bad_plan_exits_2_with_the_field(repo: Path, tmp_path: Path) -> None:
    plan = tmp_path / "plan.toml"
    plan.write_text('name = "x"\n[[sessions]]\nname = "../up"\ntask = "t"\n')
    result = cli("convoy", str(plan), "--repo", str(repo))
    assert result.returncode == 2 and "sessions.0.name" in result.stdout
    assert not (repo / ".samoflow" / "sessions" / "_convoys").exists()


def test_clean_shows_then_removes_only_what_is_safe(repo: Path) -> None:
    config = load_config(repo)
    for name in ("finished", "dirty"):
        files = create_session(config, name=name, task="t", dive=None, agent=AgentSpec())
        append_entry(files.history, HistoryEntry(iteration=1, phase="done", outcome=Outcome.DONE))
    (config.worktrees / "dirty" / "draft.txt").write_text("unsaved\n")
    shown = cli("clean", "--repo", str(repo))
    assert shown.returncode == 0 and "add --yes" in shown.stdout
    assert (config.worktrees / "finished").exists()
    removed = cli("clean", "--repo", str(repo), "--yes")
    assert removed.returncode == 0, removed.stdout + removed.stderr
    assert not (config.worktrees / "finished").exists()
    assert (config.worktrees / "dirty" / "draft.txt").exists()
    assert "uncommitted" in removed.stdout


def test_convoys_lists_each_convoy_with_its_progress(repo: Path, tmp_path: Path) -> None:
    from samoflow.convoy.plan import load_plan
    from samoflow.convoy.setup import open_plan_convoy

    plan = tmp_path / "plan.toml"
    plan.write_text(
        'name = "pair"\n[[sessions]]\nname = "a"\ntask = "t"\n'
        '[[sessions]]\nname = "b"\ntask = "t"\n'
    )
    open_plan_convoy(load_plan(plan), load_config(repo), 4)
    listed = cli("convoys", "--repo", str(repo))
    assert listed.returncode == 0, listed.stderr
    assert "pair" in listed.stdout and "0/2" in listed.stdout
    assert "samoflow/convoy/pair" in listed.stdout and "not yet" in listed.stdout


def test_convoys_counts_what_the_merge_queue_verified(repo: Path, tmp_path: Path) -> None:
    from samoflow.convoy.plan import load_plan
    from samoflow.convoy.record import write_convoy
    from samoflow.convoy.rounds import MergeRound, RoundVerdict
    from samoflow.convoy.setup import open_plan_convoy

    plan = tmp_path / "plan.toml"
    plan.write_text(
        'name = "duo"\n[[sessions]]\nname = "a"\ntask = "t"\n'
        '[[sessions]]\nname = "b"\ntask = "t"\n'
    )
    path, record = open_plan_convoy(load_plan(plan), load_config(repo), 4)
    green = MergeRound(number=1, verdict=RoundVerdict.LANDED, verified=True)
    red = MergeRound(number=1, verdict=RoundVerdict.RED, check="make test")
    a, b = record.members
    record = record.with_member(a.model_copy(update={"rounds": (green,)}))
    write_convoy(path, record.with_member(b.model_copy(update={"rounds": (red,)})))
    listed = cli("convoys", "--repo", str(repo))
    assert listed.returncode == 0, listed.stderr
    assert "1 checks green, 1 red round 1" in listed.stdout, listed.stdout
