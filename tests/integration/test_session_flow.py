"""The session flow end to end: scripted agent process, real git, real Prefect API."""

from __future__ import annotations

import json
from pathlib import Path

import git
import pytest
from prefect.client.orchestration import get_client

from samoflow.flows.session import session_flow
from samoflow.prefect_api.artifacts import overview_key, progress_key
from samoflow.session.files import SessionFiles
from samoflow.session.history import EntryKind, Outcome, iterations, read_history
from samoflow.session.phases import Phase
from samoflow.session.state import Lifecycle, load_state
from tests.support.sessions import new_session

pytestmark = pytest.mark.usefixtures("prefect_api")


def seen_hooks(files: SessionFiles) -> list[dict[str, object]]:
    lines = (files.logs / "scripted-seen.jsonl").read_text().splitlines()
    return [json.loads(line)["hook"] for line in lines]


def test_full_session_runs_every_phase_to_done(repo: Path) -> None:
    files = new_session(repo)
    report = session_flow(str(files.root))

    assert report.lifecycle is Lifecycle.DONE and report.iterations == 8
    entries = read_history(files.history)
    done = iterations(entries)
    assert [e.iteration for e in done] == list(range(1, 9))
    assert [e.phase for e in done] == [
        "init",
        "investigation",
        "requirements",
        "planning",
        "implementation",
        "testing",
        "quality",
        "done",
    ]
    assert [e.kind for e in entries].count(EntryKind.ANSWER) == 2
    hooks = seen_hooks(files)
    assert [h["iteration"] for h in hooks] == list(range(1, 9))
    assert [h["phase"] for h in hooks] == [e.phase for e in done]
    assert all(h["working_dir"] == str(repo / ".samoflow/worktrees/s1") for h in hooks)
    commits = list(git.Repo(repo).iter_commits("main..samoflow/s1"))
    assert {c.message.strip() for c in commits} == {
        "investigation notes for s1",
        "plan for s1",
        "add greeting (s1)",
        "test greeting (s1)",
    }
    assert git.Repo(repo).is_dirty(untracked_files=True) is False  # the main checkout untouched
    assert "Phase: done" in files.overview.read_text()
    assert "Total Iterations: 8" in files.overview.read_text()


def test_artifacts_are_readable_through_the_prefect_client(repo: Path) -> None:
    files = new_session(repo, name="arts")
    session_flow(str(files.root))
    with get_client(sync_client=True) as client:
        by_key = {a.key: a for a in client.read_latest_artifacts()}
    assert "Phase: done" in str(by_key[overview_key("arts")].data)
    table = by_key[progress_key("arts")].data
    rows = json.loads(table) if isinstance(table, str) else table
    assert [r["outcome"] for r in rows if r["kind"] == "iteration"][-1] == "done"
    assert len([r for r in rows if r["kind"] == "iteration"]) == 8


def test_a_finished_session_is_not_run_again(repo: Path) -> None:
    files = new_session(repo, name="again")
    session_flow(str(files.root))
    before = read_history(files.history)
    report = session_flow(str(files.root))
    assert report.lifecycle is Lifecycle.DONE and read_history(files.history) == before


BAD_SIGNALS = {
    "garbage": ('raw_signal = "{not json"', "signal file is not valid JSON"),
    "missing": ("", "signal file not created"),
    "unknown": ('signal = { status = "finished" }', "unknown signal status 'finished'"),
    "forbidden": (
        'signal = { status = "continue", phase = "testing" }',
        "phase init cannot move to testing (allowed: investigation)",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_SIGNALS))
def test_bad_signals_block_with_the_reason(repo: Path, case: str) -> None:
    step, reason = BAD_SIGNALS[case]
    files = new_session(repo, f'[[steps]]\noverview = "init"\n{step}\n', name=f"bad-{case}")
    report = session_flow(str(files.root))
    assert report.lifecycle is Lifecycle.BLOCKED
    assert report.reason is not None and report.reason.startswith(reason)
    (entry,) = read_history(files.history)
    assert entry.outcome is Outcome.BLOCKED and entry.next_phase == "init"


def test_leaving_a_gate_without_waiting_blocks(repo: Path) -> None:
    scenario = """
[[steps]]
overview = "init"
signal = { status = "continue", phase = "investigation" }
[[steps]]
signal = { status = "continue", phase = "requirements" }
[[steps]]
signal = { status = "continue", phase = "planning" }
"""
    files = new_session(repo, scenario, name="gate-skip")
    report = session_flow(str(files.root))
    assert report.lifecycle is Lifecycle.BLOCKED and report.phase is Phase.REQUIREMENTS
    assert "requirements is a human gate" in (report.reason or "")


def test_three_empty_signals_in_a_row_block(repo: Path) -> None:
    scenario = '[[steps]]\noverview = "init"\nraw_signal = "{}"\n'
    files = new_session(repo, "repeat_last = true\n" + scenario, name="empty")
    report = session_flow(str(files.root))
    assert report.iterations == 3 and "empty signal 3 times" in (report.reason or "")


def test_phase_iteration_limit_blocks(repo: Path) -> None:
    scenario = (
        'repeat_last = true\n[[steps]]\noverview = "update"\nsignal = { status = "continue" }\n'
    )
    files = new_session(repo, scenario, name="limit")
    report = session_flow(str(files.root))
    assert (
        # samocode's count: init entered without a recorded transition gets 5 + 1 (measured)
        report.iterations == 6 and report.reason == "Phase 'init' exceeded 5 iteration limit"
    )


def test_a_crashing_agent_is_retried_and_the_iteration_counted_once(repo: Path) -> None:
    scenario = """
[[steps]]
overview = "init"
crash_on_attempts = [1]
signal = { status = "continue", phase = "investigation" }
[[steps]]
kill_on_attempts = [1, 2]
signal = { status = "blocked", reason = "stop here" }
"""
    files = new_session(repo, scenario, name="crash")
    report = session_flow(str(files.root))
    first, second = read_history(files.history)
    assert (first.iteration, first.attempts, first.outcome) == (1, 2, Outcome.CONTINUE)
    assert (second.iteration, second.attempts) == (2, 3)
    assert report.reason == "stop here"


def test_an_agent_that_always_crashes_blocks_with_the_reason(repo: Path) -> None:
    scenario = '[[steps]]\ncrash_on_attempts = [1, 2, 3]\nsignal = { status = "continue" }\n'
    files = new_session(repo, scenario, name="crashes")
    report = session_flow(str(files.root))
    (entry,) = read_history(files.history)
    assert report.lifecycle is Lifecycle.BLOCKED and entry.attempts == 3
    assert report.reason == "agent failed 3 times, last: attempt 3: agent exited with code 3"


def test_a_hanging_agent_is_killed_at_the_timeout_and_retried(repo: Path) -> None:
    scenario = """
[[steps]]
overview = "init"
hang_on_attempts = [1]
signal = { status = "blocked", reason = "after the hang" }
"""
    files = new_session(repo, scenario, name="hang", timeout=2)
    report = session_flow(str(files.root))
    (entry,) = read_history(files.history)
    assert entry.attempts == 2 and report.reason == "after the hang"
    first_log = files.iteration_log(1, 1, "init")
    assert first_log.exists() and load_state(files).lifecycle is Lifecycle.BLOCKED


def test_handoff_gives_the_fresh_agent_the_saved_state_and_the_cooldown_holds(repo: Path) -> None:
    scenario = """
[[steps]]
overview = "init"
signal = { status = "continue", phase = "investigation" }
[[steps]]
overview = "update"
signal = { status = "handoff", summary = "full", state = { done = ["a.py"], next = "b.py" } }
[[steps]]
echo_handoff = true
signal = { status = "handoff", state = { done = ["a.py", "b.py"] } }
"""
    files = new_session(repo, scenario, name="handoff")
    report = session_flow(str(files.root))
    seen = [json.loads(x) for x in (files.logs / "scripted-seen.jsonl").read_text().splitlines()]
    assert [s["prompt_mentions_handoff"] for s in seen] == [False, False, True]
    assert seen[2]["hook"]["handoff"] == str(files.handoff)
    assert 'handoff state: {"done": ["a.py"], "next": "b.py"}' in files.overview.read_text()
    assert report.lifecycle is Lifecycle.BLOCKED and "handoff loop" in (report.reason or "")
    outcomes = [e.outcome for e in read_history(files.history)]
    assert outcomes == [Outcome.CONTINUE, Outcome.HANDOFF, Outcome.BLOCKED]
