"""Roles from the directory: the path decides, an explicit role wins, a mismatch is reported."""

from __future__ import annotations

from pathlib import Path

import pytest

from samoflow.names import InvalidNameError
from samoflow.project import load_config
from samoflow.session.files import SessionFiles
from samoflow.session.history import EntryKind, read_history
from samoflow.session.roles import decide_role, role_from_path
from samoflow.session.spec import AgentSpec, Role, read_spec
from samoflow.session.store import SessionError, create_session, worker_files

ROOT = Path("/project/.samoflow/sessions")


@pytest.mark.parametrize(
    ("relative", "role"),
    [
        ("auth", Role.COORDINATOR),
        ("auth/workers/db", Role.WORKER),
        ("auth/helpers/db", None),
        ("auth/workers/db/workers/x", None),
    ],
)
def test_the_path_decides_the_role(relative: str, role: Role | None) -> None:
    assert role_from_path(ROOT, ROOT / relative) is role


def test_a_folder_outside_the_sessions_root_has_no_role_from_its_path() -> None:
    decision = decide_role(ROOT, Path("/elsewhere/auth"), None)
    assert decision.role is Role.COORDINATOR and decision.from_path is None
    assert decision.warning is not None and "neither" in decision.warning


def test_an_explicit_role_wins_and_the_mismatch_is_reported() -> None:
    decision = decide_role(ROOT, ROOT / "auth", Role.WORKER)
    assert decision.role is Role.WORKER and decision.from_path is Role.COORDINATOR
    assert decision.warning == (
        "role mismatch: the path says coordinator, the explicit setting says worker; "
        "running as worker"
    )


def test_an_explicit_role_that_agrees_is_silent() -> None:
    assert decide_role(ROOT, ROOT / "a/workers/b", Role.WORKER).warning is None


def test_a_mismatch_is_recorded_in_the_session_history(repo: Path) -> None:
    files = create_session(
        load_config(repo), name="lead", task="t", dive=None, agent=AgentSpec(), role=Role.WORKER
    )
    assert read_spec(files.spec).role is Role.WORKER
    (entry,) = read_history(files.history)
    assert entry.kind is EntryKind.SYSTEM and "role mismatch" in (entry.summary or "")


def test_a_worker_gets_its_role_name_and_branch_from_its_folder(repo: Path) -> None:
    config = load_config(repo)
    lead = create_session(config, name="lead", task="t", dive=None, agent=AgentSpec())
    worker = create_session(config, name="db", task="t", dive=None, agent=AgentSpec(), parent=lead)
    spec = read_spec(worker.spec)
    assert worker.root == lead.root / "workers" / "db"
    assert (spec.role, spec.name, spec.branch) == (Role.WORKER, "lead--db", "samoflow/lead--db")
    assert spec.base_branch == "samoflow/lead" and worker.sessions_root == config.sessions
    assert Path(spec.working_dir) == (config.worktrees / "lead--db").resolve()
    assert read_history(worker.history) == []  # no mismatch, nothing to report
    with pytest.raises(SessionError, match="workers do not nest"):
        create_session(config, name="x", task="t", dive=None, agent=AgentSpec(), parent=worker)


@pytest.mark.parametrize("name", ["../x", "a/b", ".hidden", "ｗ"])
def test_hostile_worker_names_are_refused(name: str) -> None:
    with pytest.raises(InvalidNameError):
        worker_files(SessionFiles(ROOT / "lead"), name)


@pytest.mark.parametrize("name", ["convoy", "a--b"])
def test_names_samoflow_keeps_for_itself_are_refused(repo: Path, name: str) -> None:
    with pytest.raises(SessionError, match="reserved"):
        create_session(load_config(repo), name=name, task="t", dive=None, agent=AgentSpec())
