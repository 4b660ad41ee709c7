"""Stop and pause: from the CLI and from a Prefect cancellation, no agent outlives the stop,
`stopped` is recorded with who and when, the monitor leaves the session alone, and
`samoflow run --session` (or `samoflow resume`) takes it on to done."""

from __future__ import annotations

import subprocess
from pathlib import Path
from uuid import UUID

import pytest
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.objects import StateType
from prefect.states import Cancelling

from samoflow.health.lease import read_lease
from samoflow.health.monitor import CheckVerdict, Monitor, check_session
from samoflow.health.restart import Launched
from samoflow.project import load_config
from samoflow.session.files import SessionFiles
from samoflow.session.history import EntryKind, Outcome, read_history
from samoflow.session.spec import read_spec
from samoflow.session.state import Lifecycle, SessionReport, load_state
from samoflow.settings import get_settings
from tests.conftest import wait_until
from tests.support.holds import (
    HANGS_FIRST,
    SAMOFLOW,
    agent_pid,
    background,
    cli,
    group_alive,
    run_session,
    waits_for,
)
from tests.support.serve_session import DEPLOYMENT
from tests.support.sessions import new_session

pytestmark = pytest.mark.usefixtures("prefect_api")


def scenario(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scenario.toml"
    path.write_text(text, encoding="utf-8")
    return path


def refuse_launch(files: SessionFiles) -> Launched:
    raise AssertionError(f"the monitor restarted {files.name}, which a human holds")


def assert_left_alone_by_the_monitor(files: SessionFiles) -> None:
    check = check_session(files, Monitor(settings=get_settings(), notify=print,
                                         launch=refuse_launch))
    assert check.verdict is CheckVerdict.HELD, check


def assert_stopped(files: SessionFiles, agent: int, by: str) -> None:
    assert not group_alive(agent), "the agent's process group outlived the stop"
    last = read_history(files.history)[-1]
    assert last.kind is EntryKind.SYSTEM and last.outcome is Outcome.STOPPED
    assert last.summary is not None and f"stopped by {by}" in last.summary
    assert load_state(files).lifecycle is Lifecycle.STOPPED
    assert not files.lease.exists()
    spec = read_spec(files.spec)
    assert Path(spec.working_dir).is_dir()  # the worktree and its branch are left as they are
    subprocess.run(["git", "rev-parse", "--verify", spec.branch], cwd=spec.repo, check=True)


def assert_resumes_to_done(repo: Path, files: SessionFiles) -> None:
    resumed = cli("run", "--session", files.name, "--repo", str(repo), "--local", timeout=300)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert load_state(files).lifecycle is Lifecycle.DONE
    rows = read_history(files.history)
    assert any(r.summary and "resumed by `samoflow run`" in r.summary for r in rows)


def test_stop_from_the_cli_ends_the_agent_records_it_and_run_resumes_it(
    repo: Path, tmp_path: Path
) -> None:
    files = SessionFiles(load_config(repo).sessions / "halt")
    with run_session(repo, "halt", scenario(tmp_path, HANGS_FIRST), tmp_path / "run.log") as run:
        wait_until(lambda: agent_pid(files) is not None, 180, "the hung agent")
        agent = agent_pid(files)
        assert agent is not None
        stopped = cli("stop", "halt", "--repo", str(repo))
        assert stopped.returncode == 0 and "stopped by" in stopped.stdout, stopped.stdout
        wait_until(lambda: run.poll() is not None, 60, "the orchestrator to end its run")
    assert_stopped(files, agent, "")
    assert_left_alone_by_the_monitor(files)
    assert_resumes_to_done(repo, files)


def test_a_prefect_cancellation_is_a_stop(repo: Path, tmp_path: Path) -> None:
    files = new_session(repo, HANGS_FIRST, name="cancelled")
    served = [*SAMOFLOW[:1], "-m", "tests.support.serve_session"]
    with background(served, tmp_path / "runner.log", PREFECT_RUNNER_POLL_FREQUENCY="1"), \
            get_client(sync_client=True) as client:
        wait_until(lambda: _deployment(client) is not None, 120, "the served deployment")
        deployment = _deployment(client)
        assert deployment is not None
        run = client.create_flow_run_from_deployment(
            deployment, parameters={"session_dir": str(files.root)}
        )
        wait_until(lambda: agent_pid(files) is not None, 240, "the hung agent")
        agent = agent_pid(files)
        assert agent is not None
        client.set_flow_run_state(run.id, Cancelling())  # what the UI's "Cancel" sends
        wait_until(lambda: _state(client, run.id) is StateType.CANCELLED, 180, "cancelled")
        wait_until(lambda: load_state(files).lifecycle is Lifecycle.STOPPED, 60, "the stop row")
    assert_stopped(files, agent, "prefect cancellation")
    assert_left_alone_by_the_monitor(files)
    assert_resumes_to_done(repo, files)


def _deployment(client: SyncPrefectClient) -> UUID | None:
    try:
        found = client.read_deployment_by_name(f"samoflow-session/{DEPLOYMENT}")
    except Exception:
        return None
    return UUID(str(found.id))


def _state(client: SyncPrefectClient, run_id: UUID) -> StateType | None:
    state = client.read_flow_run(run_id).state
    return state.type if state is not None else None


def test_pause_lets_the_iteration_end_holds_and_resume_goes_on(
    repo: Path, tmp_path: Path
) -> None:
    files = SessionFiles(load_config(repo).sessions / "held")
    path = scenario(tmp_path, waits_for(files.root / "release"))
    with run_session(repo, "held", path, tmp_path / "run.log") as run:
        wait_until(lambda: agent_pid(files) is not None, 180, "the agent of iteration 1")
        paused = cli("pause", "held", "--repo", str(repo))
        assert paused.returncode == 0 and "finishes first" in paused.stdout, paused.stdout
        (files.root / "release").touch()  # iteration 1 may end now
        wait_until(lambda: run.poll() is not None, 120, "the orchestrator to end its run")
    rows = read_history(files.history)
    assert [r.iteration for r in rows if r.kind is EntryKind.ITERATION] == [1]
    assert rows[-1].outcome is Outcome.PAUSED and "paused by" in (rows[-1].summary or "")
    assert not files.journal.exists()  # no iteration 2 was started
    assert_left_alone_by_the_monitor(files)
    resumed = cli("resume", "held", "--repo", str(repo))
    assert resumed.returncode == 0 and "orchestrator pid" in resumed.stdout, resumed.stdout
    wait_until(lambda: load_state(files).lifecycle is Lifecycle.DONE, 300, "done after resume")
    wait_until(lambda: not files.lease.exists(), 60, "the resumed orchestrator to let go")


def test_an_unreadable_hold_written_mid_run_is_a_pause_and_resume_keeps_its_bytes(
    repo: Path, tmp_path: Path
) -> None:
    files = SessionFiles(load_config(repo).sessions / "scribbled")
    path = scenario(tmp_path, waits_for(files.root / "release"))
    log = tmp_path / "run.log"
    with run_session(repo, "scribbled", path, log) as run:
        wait_until(lambda: agent_pid(files) is not None, 180, "the agent of iteration 1")
        agent = agent_pid(files)
        files.hold.write_text("stop\n", encoding="utf-8")  # by hand, not samoflow's format
        (files.root / "release").touch()
        wait_until(lambda: run.poll() is not None, 120, "the orchestrator to end its run")
    said = log.read_text(encoding="utf-8")
    assert run.returncode == 1 and "reason: paused by an unreadable _hold.json" in said, said
    assert "Traceback" not in said
    assert agent is not None and not group_alive(agent)
    rows = read_history(files.history)
    assert [r.iteration for r in rows if r.kind is EntryKind.ITERATION] == [1]  # it finished
    assert rows[-1].outcome is Outcome.PAUSED
    assert "paused by an unreadable _hold.json" in (rows[-1].summary or "")
    assert_left_alone_by_the_monitor(files)
    status = cli("status", "--repo", str(repo))
    assert status.returncode == 0 and "paused" in status.stdout, status.stdout + status.stderr
    resumed = cli("run", "--session", "scribbled", "--repo", str(repo), "--local", timeout=300)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert load_state(files).lifecycle is Lifecycle.DONE
    (aside,) = files.root.glob("_hold.json.broken-*")
    assert aside.read_text(encoding="utf-8") == "stop\n"
    assert not files.hold.exists()


@pytest.mark.slow
def test_stop_all_stops_every_member_of_a_running_convoy(repo: Path, tmp_path: Path) -> None:
    from tests.support.convoys import write_plan

    names = ("red", "green", "blue")
    plan = write_plan(tmp_path, "trio", dict.fromkeys(names, HANGS_FIRST), notify=False)
    sessions = load_config(repo).sessions
    members = [SessionFiles(sessions / name) for name in names]
    convoy = [*SAMOFLOW, "convoy", str(plan), "--repo", str(repo)]
    with background(convoy, tmp_path / "convoy.log") as run:
        wait_until(lambda: all(agent_pid(f) is not None for f in members), 300, "three agents")
        agents = [agent_pid(f) for f in members]
        stopped = cli("stop", "--all", "--repo", str(repo))
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
        assert stopped.stdout.count("stopped by") == 3, stopped.stdout
        wait_until(lambda: run.poll() is not None, 120, "the convoy to end")
    for files, agent in zip(members, agents, strict=True):
        assert agent is not None
        assert_stopped(files, agent, "")
        assert_left_alone_by_the_monitor(files)


def test_a_cancelled_local_run_stops_too(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No runner signals a `samoflow run --local`: the flow sees its own cancellation."""
    from tests.support.replies import run_in_thread

    monkeypatch.setenv("SAMOFLOW_CANCEL_POLL_SECONDS", "1")
    get_settings.cache_clear()
    files = new_session(repo, HANGS_FIRST, name="local-cancel")
    reports: list[SessionReport] = []
    runner = run_in_thread(files, reports)
    wait_until(lambda: agent_pid(files) is not None, 180, "the hung agent")
    agent = agent_pid(files)
    lease = read_lease(files.lease)
    assert agent is not None and lease is not None and lease.flow_run_id is not None
    with get_client(sync_client=True) as client:
        client.set_flow_run_state(UUID(lease.flow_run_id), Cancelling())
    runner.join(timeout=120)
    assert reports and reports[0].lifecycle is Lifecycle.STOPPED
    assert_stopped(files, agent, "prefect cancellation")
    assert_resumes_to_done(repo, files)


def test_one_watch_sees_which_of_several_local_runs_was_cancelled(repo: Path) -> None:
    """The runs of one process are watched together: only the cancelled one is stopped,
    and a run whose watch ended is no longer looked at."""
    from prefect import flow

    from samoflow.prefect_api.cancellation import CANCELLED_BY, watch_cancellation
    from samoflow.session.hold import read_hold

    @flow(name="samoflow-test-watched")
    def watched() -> None:
        return None

    sessions = [new_session(repo, HANGS_FIRST, name=f"watched-{n}") for n in range(3)]
    with get_client(sync_client=True) as client:
        runs = [client.create_flow_run(watched) for _ in sessions]
        with (
            watch_cancellation(sessions[0], runs[0].id, 0.2),
            watch_cancellation(sessions[1], runs[1].id, 0.2),
        ):
            with watch_cancellation(sessions[2], runs[2].id, 0.2):
                pass  # ended before anything happened: never stopped
            client.set_flow_run_state(runs[2].id, Cancelling(), force=True)
            client.set_flow_run_state(runs[1].id, Cancelling(), force=True)
            wait_until(lambda: read_hold(sessions[1]) is not None, 60, "the cancelled run's stop")
            assert read_hold(sessions[0]) is None  # watched in the same look, not cancelled
            client.set_flow_run_state(runs[0].id, Cancelling(), force=True)
            wait_until(lambda: read_hold(sessions[0]) is not None, 60, "the second stop")
    held = read_hold(sessions[1])
    assert held is not None and held.by == CANCELLED_BY
    assert read_hold(sessions[2]) is None  # its watch had ended
