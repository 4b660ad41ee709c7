"""A convoy killed mid-way (SIGKILL) and restarted: no finished member runs again, one message."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import git
import pytest

from samoflow.convoy.record import ConvoyError, MemberState, read_convoy
from samoflow.session.history import iterations, read_history
from samoflow.workspace.merge import MergeStatus
from tests.conftest import wait_until
from tests.support.convoys import full_scenario, run_plan, use_slack, write_plan
from tests.support.slack_capture import slack_capture

pytestmark = [pytest.mark.usefixtures("prefect_api"), pytest.mark.slow]


def recorded_states(convoy_file: Path) -> dict[str, MemberState]:
    try:
        return {m.name: m.state for m in read_convoy(convoy_file).members}
    except ConvoyError:  # not written yet
        return {}


def iterations_of(session: Path) -> int:
    return len(iterations(read_history(session / "_signal_history.jsonl")))


def agent_runs(session: Path) -> int:
    return len((session / "_logs" / "scripted-seen.jsonl").read_text().splitlines())


def test_a_killed_convoy_restarts_without_rerunning_finished_members_and_announces_once(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = write_plan(
        repo.parent,
        "phoenix",
        {
            "quick": full_scenario(),
            "slow1": full_scenario(sleep=1.0),
            "slow2": full_scenario(sleep=1.0),
        },
    )
    sessions = repo / ".samoflow" / "sessions"
    convoy_file = sessions / "_convoys" / "phoenix.json"
    with slack_capture() as slack:
        use_slack(slack.url, monkeypatch)
        log = (repo.parent / "convoy-1.log").open("wb")
        first = subprocess.Popen(
            [sys.executable, "-m", "samoflow.cli.convoy", "convoy", str(plan), "--repo", str(repo)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "COLUMNS": "200"},
        )
        try:
            wait_until(
                lambda: (
                    recorded_states(convoy_file).get("quick") is MemberState.DONE
                    and first.poll() is None
                ),
                120,
                "the quick member to finish inside the first run",
            )
            wait_until(lambda: iterations_of(sessions / "slow1") >= 2, 60, "slow1 to be mid-way")
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=30)
            log.close()
        assert first.returncode == -signal.SIGKILL
        killed = read_convoy(convoy_file)
        assert killed.member("slow1").state is MemberState.RUNNING and killed.notice is None
        quick_agent_runs = agent_runs(sessions / "quick")
        assert slack.texts() == []  # nothing announced by the killed run

        record = run_plan(plan, repo)
        again = run_plan(plan, repo)

    assert [m.state for m in record.members] == [MemberState.DONE] * 3
    # A kill between the git merge and its record leaves "already merged": the same result.
    landed = {MergeStatus.MERGED, MergeStatus.ALREADY_MERGED}
    assert all(m.merge is not None and m.merge.status in landed for m in record.members)
    merged = git.Repo(repo).git.ls_tree("-r", "--name-only", "samoflow/convoy/phoenix")
    assert all(f"src/greeting_{n}.py" in merged for n in ("quick", "slow1", "slow2"))
    assert record.member("quick").runs == 1  # never started again
    assert agent_runs(sessions / "quick") == quick_agent_runs == 8
    assert [record.member(n).runs for n in ("slow1", "slow2")] == [2, 2]
    assert all(iterations_of(sessions / n) == 8 for n in ("quick", "slow1", "slow2"))
    finished = [t for t in slack.texts() if "convoy phoenix finished" in t]
    assert len(finished) == 1 and again.notice == record.notice
    assert json.loads(convoy_file.read_text())["notice"]["sent_at"] is not None
