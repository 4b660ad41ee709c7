"""Git ground truth before every attempt: worktrees and branches deleted under a running session.

Real git, the scripted agent as a real process, the session flow on the tests' Prefect API
(or `samoflow run` as a subprocess); a step waits for a file so the test can act meanwhile.
"""

from __future__ import annotations

import contextvars
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import git
import pytest

from samoflow.convoy.record import ConvoyRecord
from samoflow.flows.session import session_flow
from samoflow.project import load_config, write_config
from samoflow.session.files import SessionFiles
from samoflow.session.history import EntryKind, Outcome, read_history
from samoflow.session.spec import AgentSpec, read_spec
from samoflow.session.store import create_session
from samoflow.workspace.merge import MergeStatus
from samoflow.workspace.worktrees import registered_worktrees
from tests.conftest import wait_until
from tests.support.convoys import full_scenario, run_plan, use_slack, write_plan
from tests.support.sessions import new_session
from tests.support.slack_capture import slack_capture

pytestmark = pytest.mark.usefixtures("prefect_api")

END = 'signal = { status = "blocked", reason = "end of the test scenario" }'


def scenario(*steps: str) -> str:
    return "\n".join(f"[[steps]]\n{step}" for step in [*steps, END]) + "\n"


def commit_step(name: str, wait_for: Path | None = None) -> str:
    waits = f'wait_for = "{wait_for}"\n' if wait_for else ""
    return (
        f'{waits}write = {{ "{name}.txt" = "{name}\\n" }}\ncommit = "{name} ({{session}})"\n'
        'signal = { status = "continue" }'
    )


FIRST = 'overview = "init"\nsignal = { status = "continue" }'


def git_out(repo: Path, *args: str) -> str:
    identity = ["-c", "user.name=x", "-c", "user.email=x@example.invalid"]
    done = subprocess.run(["git", *identity, *args], cwd=repo, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def seen_iterations(files: SessionFiles) -> list[int]:
    seen = files.logs / "scripted-seen.jsonl"
    lines = seen.read_text().splitlines() if seen.exists() else []
    return [json.loads(line)["iteration"] for line in lines]


def start(files: SessionFiles) -> threading.Thread:
    context = contextvars.copy_context()  # the thread uses the test's Prefect API
    runner = threading.Thread(target=context.run, args=(session_flow, str(files.root)))
    runner.start()
    return runner


def finish(runner: threading.Thread) -> None:
    runner.join(timeout=240)
    assert not runner.is_alive(), "the session did not end"


def messages(repo: Path, revisions: str) -> list[str]:
    return [c.message.strip() for c in git.Repo(repo).iter_commits(revisions)]


def system_notes(files: SessionFiles) -> list[str]:
    return [e.summary or "" for e in read_history(files.history) if e.kind is EntryKind.SYSTEM]


def test_a_worktree_deleted_mid_attempt_is_recreated_and_main_gets_no_commit(
    repo: Path, tmp_path: Path
) -> None:
    write_config(repo)  # `samoflow init`: an untracked file a stray `git add -A` would take
    go = tmp_path / "go"
    files = new_session(
        repo, scenario(FIRST, commit_step("step 2", wait_for=go), commit_step("step 3")), name="wt"
    )
    worktree = repo / ".samoflow/worktrees/wt"
    runner = start(files)
    wait_until(lambda: 2 in seen_iterations(files), 120, "iteration 2 to wait for the test")
    shutil.rmtree(worktree)  # while the agent waits inside it
    go.touch()
    finish(runner)

    assert messages(repo, "main") == ["init"]  # the user's branch got nothing
    assert git_out(repo, "status", "--porcelain") == "?? .samoflow.toml"
    assert messages(repo, "main..samoflow/wt") == ["step 3 (wt)", "step 2 (wt)"]
    assert registered_worktrees(git.Repo(repo))[worktree.resolve()] == "samoflow/wt"
    assert (worktree / "step 3.txt").exists()
    # The agent's write after the delete made a stray folder; its commit found no repository.
    assert (worktree.parent / "wt.stray-1" / "step 2.txt").exists()
    notes = system_notes(files)
    assert any("was no longer a git worktree" in n and "wt.stray-1" in n for n in notes)
    assert any("was missing: recreated from samoflow/wt at " in n for n in notes)
    assert read_history(files.history)[-1].reason == "end of the test scenario"


def test_a_branch_deleted_mid_session_is_recovered_and_the_earlier_steps_stay_ancestors(
    repo: Path, tmp_path: Path
) -> None:
    go = tmp_path / "go"
    waits = f'wait_for = "{go}"\nsignal = {{ status = "continue" }}'
    files = new_session(
        repo, scenario(FIRST, commit_step("step 2"), waits, commit_step("step 4")), name="br"
    )
    runner = start(files)
    wait_until(lambda: 3 in seen_iterations(files), 120, "iteration 3 to wait for the test")
    main = git.Repo(repo)
    step2 = main.commit("samoflow/br").hexsha
    main.git.update_ref("-d", "refs/heads/samoflow/br")  # what `git branch -D` refuses to do
    go.touch()
    finish(runner)

    assert messages(repo, "main..samoflow/br") == ["step 4 (br)", "step 2 (br)"]
    for ancestor in (step2, main.commit("main").hexsha):
        main.git.merge_base("--is-ancestor", ancestor, "samoflow/br")  # raises if not
    assert messages(repo, "main") == ["init"]
    assert f"branch samoflow/br was deleted: recovered at {step2[:12]} from its worktree" in (
        system_notes(files)
    )


def test_a_branch_that_no_longer_descends_from_the_base_blocks_before_the_agent_runs(
    repo: Path, tmp_path: Path
) -> None:
    go = tmp_path / "go"
    waits = f'wait_for = "{go}"\nsignal = {{ status = "continue" }}'
    files = new_session(repo, scenario(FIRST, waits, commit_step("step 3")), name="root")
    runner = start(files)
    wait_until(lambda: 2 in seen_iterations(files), 120, "iteration 2 to wait for the test")
    main = git.Repo(repo)
    orphan = git_out(
        repo,
        "commit-tree",
        git_out(repo, "hash-object", "-t", "tree", "/dev/null"),
        "-m",
        "unrelated",
    )  # a root commit: no history shared with main
    main.git.update_ref("refs/heads/samoflow/root", orphan)
    go.touch()
    finish(runner)

    last = read_history(files.history)[-1]
    assert last.outcome is Outcome.BLOCKED and last.iteration == 3
    assert "samoflow/root" in (last.reason or "")
    assert "no longer descends from the session's base" in (last.reason or "")
    assert 3 not in seen_iterations(files)  # no agent ran on the wrong branch
    assert messages(repo, "main") == ["init"]


def samoflow(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "samoflow.cli", *args],
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, "COLUMNS": "250"},
    )


def test_resume_recreates_a_deleted_worktree_and_branch_and_warns_about_unseen_changes(
    repo: Path, tmp_path: Path
) -> None:
    plan = tmp_path / "resume.toml"
    blocks = commit_step("step 2").replace("continue", 'blocked", reason = "a human must look')
    plan.write_text(scenario(FIRST, blocks, commit_step("step 3")))
    (repo / "draft.txt").write_text("not committed\n")
    common = ["--repo", str(repo), "--local", "--agent", "scripted", "--scenario", str(plan)]
    first = samoflow("run", "resume me", "--session", "rs", *common)
    assert first.returncode == 1, first.stdout + first.stderr
    assert "warning:" in first.stdout and "uncommitted change(s)" in first.stdout
    assert "draft.txt" in first.stdout
    files = SessionFiles(repo / ".samoflow/sessions/rs")
    assert any("draft.txt" in n for n in system_notes(files))  # recorded too
    main = git.Repo(repo)
    step2 = main.commit("samoflow/rs").hexsha
    shutil.rmtree(repo / ".samoflow/worktrees/rs")
    main.git.update_ref("-d", "refs/heads/samoflow/rs")

    again = samoflow("run", "--session", "rs", *common)
    assert again.returncode == 1, again.stdout + again.stderr
    assert f"branch samoflow/rs was deleted: recovered at {step2[:12]}" in again.stdout
    assert "worktree was missing: recreated from samoflow/rs" in again.stdout
    assert read_history(files.history)[-1].reason == "end of the test scenario"
    assert messages(repo, "main..samoflow/rs") == ["step 3 (rs)", "step 2 (rs)"]
    assert messages(repo, "main") == ["init"]
    assert any("was missing: recreated from samoflow/rs" in n for n in system_notes(files))


@pytest.mark.parametrize("root", ["sessions", "worktrees"])
def test_a_session_name_taken_by_a_file_is_refused_before_anything_is_created(
    repo: Path, root: str
) -> None:
    taken = repo / ".samoflow" / root / "taken"
    taken.parent.mkdir(parents=True)
    taken.write_text("someone's file\n")
    result = samoflow("run", "a task", "--session", "taken", "--repo", str(repo), "--local")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "is a file, not a folder" in result.stdout and "Traceback" not in result.stderr
    assert "samoflow/taken" not in [h.name for h in git.Repo(repo).heads]
    assert len(registered_worktrees(git.Repo(repo))) == 1
    assert taken.read_text() == "someone's file\n"
    other = repo / ".samoflow" / ("worktrees" if root == "sessions" else "sessions") / "taken"
    assert not other.exists()


def test_a_new_session_records_its_base_commit(repo: Path) -> None:
    files = create_session(load_config(repo), name="based", task="t", dive=None, agent=AgentSpec())
    assert read_spec(files.spec).base_commit == git.Repo(repo).commit("main").hexsha


@pytest.mark.slow
def test_before_a_merge_a_lost_branch_is_recovered_and_one_off_its_base_is_not_merged(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    go = tmp_path / "go"
    last_step = 'summary = "Wrote the summary"\n'
    waits = full_scenario().replace(last_step, f'{last_step}wait_for = "{go}"\n')
    plan = write_plan(repo.parent, "truth", {"lost": waits, "moved": waits})
    with slack_capture() as slack:
        use_slack(slack.url, monkeypatch)
        context = contextvars.copy_context()
        result: list[ConvoyRecord] = []
        runner = threading.Thread(
            target=context.run, args=(lambda: result.append(run_plan(plan, repo)),)
        )
        runner.start()
        for name in ("lost", "moved"):
            member = SessionFiles(repo / ".samoflow/sessions" / name)
            wait_until(lambda m=member: 8 in seen_iterations(m), 240, f"{name}'s last step")
        main = git.Repo(repo)
        lost_tip = main.commit("samoflow/lost").hexsha
        main.git.update_ref("-d", "refs/heads/samoflow/lost")
        orphan = git_out(
            repo, "commit-tree", git_out(repo, "hash-object", "-t", "tree", "/dev/null"), "-m", "x"
        )
        main.git.update_ref("refs/heads/samoflow/moved", orphan)
        go.touch()
        finish(runner)
    (record,) = result
    merges = {m.name: m.merge for m in record.members}
    assert merges["lost"] is not None and merges["lost"].status is MergeStatus.MERGED
    assert main.commit("samoflow/lost").hexsha == lost_tip
    assert merges["moved"] is not None and merges["moved"].status is MergeStatus.FAILED
    assert "no longer descends from the session's base" in (merges["moved"].detail or "")
    (message,) = [t for t in slack.texts() if "convoy truth finished" in t]
    assert "⚠️ moved: done, merge failed" in message and "✅ moved" not in message
    assert "✅ lost: done" in message
