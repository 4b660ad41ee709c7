"""The checks runner and ground truth, on real shells and real git repositories."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from samoflow.delivery.checks import ChecksConfig, resolve_checks, run_checks
from samoflow.delivery.ground_truth import verify_ground_truth
from samoflow.project import ProjectError, load_config
from tests.conftest import make_repo


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


def test_green_checks_report_every_command(tmp_path: Path) -> None:
    checks = ChecksConfig(commands=("echo one", "test -f README.md"))
    report = run_checks(make_repo(tmp_path / "r"), checks, tmp_path / "logs")
    assert report.passed
    assert [r.exit_code for r in report.results] == [0, 0]
    assert "one" in report.results[0].output_tail
    assert Path(report.results[0].log_path or "").read_text().startswith("$ echo one\n")


def test_a_red_check_stops_the_round_with_its_last_lines(tmp_path: Path) -> None:
    checks = ChecksConfig(
        commands=("seq 1 500; echo broken >&2; exit 3", "echo never"), timeout_seconds=60
    )
    report = run_checks(make_repo(tmp_path / "r"), checks, tmp_path / "logs")
    assert not report.passed
    assert len(report.results) == 1
    failure = report.failure
    assert failure is not None and failure.exit_code == 3 and not failure.timed_out
    lines = failure.output_tail.splitlines()
    assert len(lines) == 200 and lines[-1] == "broken" and lines[0] == "302"
    assert "exit 3" in report.summary()


def test_a_hanging_check_is_killed_with_its_group_at_its_timeout(tmp_path: Path) -> None:
    marker = tmp_path / "child-alive"
    # The child outlives the shell unless the whole group is killed.
    command = f"(sleep 30; touch {marker}) & echo started; sleep 30"
    report = run_checks(
        make_repo(tmp_path / "r"),
        ChecksConfig(commands=(command,), timeout_seconds=1),
        tmp_path / "logs",
    )
    failure = report.failure
    assert failure is not None and failure.timed_out and failure.exit_code is None
    assert "started" in failure.output_tail
    assert "timed out" in report.summary()
    probe = subprocess.run(["pgrep", "-f", f"touch {marker}"], capture_output=True)
    assert probe.returncode == 1, "the check's child survived its timeout"


def test_ground_truth_wants_a_clean_tree_and_commits(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r")
    _git(repo, "checkout", "-q", "-b", "work")
    assert "no commits beyond main" in (verify_ground_truth(repo, "main").problem or "")
    assert verify_ground_truth(repo, "main", expect_changes=False).problem is None
    (repo / "new.txt").write_text("x\n")
    truth = verify_ground_truth(repo, "main")
    assert truth.problem is not None and truth.problem.startswith("commit your work")
    assert "new.txt" in truth.problem
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "work")
    truth = verify_ground_truth(repo, "main")
    assert truth.problem is None and truth.commits_beyond_base == 1


BASE = 'main_repo = "."\nworktrees = "wt"\nsessions = "s"\n'


def test_config_reads_checks_and_delivery_and_keeps_the_old_format(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r")
    (repo / ".samoflow.toml").write_text(BASE)
    old = load_config(repo)
    assert old.checks is None and old.delivery.push is None
    (repo / ".samoflow.toml").write_text(
        BASE + '[checks]\ncommands = ["make test"]\nmax_rounds = 2\n'
        '[delivery]\npush = "origin"\n'
    )
    config = load_config(repo)
    assert config.checks == ChecksConfig(commands=("make test",), max_rounds=2)
    assert config.checks.timeout_seconds == 1800
    assert config.delivery.push == "origin"
    assert config.checks.with_commands(["true"]).commands == ("true",)


def test_a_bad_checks_table_is_a_clear_error(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r")
    (repo / ".samoflow.toml").write_text(BASE + "[checks]\nmax_rounds = 0\n")
    with pytest.raises(ProjectError, match="max_rounds"):
        load_config(repo)


def test_a_session_or_member_override_replaces_the_project_commands() -> None:
    project = ChecksConfig(commands=("make test",), max_rounds=2)
    assert resolve_checks(project, None) == project
    assert resolve_checks(project, ("true",)) == ChecksConfig(commands=("true",), max_rounds=2)
    assert resolve_checks(None, ("true",)) == ChecksConfig(commands=("true",))
    assert resolve_checks(None, None) is None
    assert resolve_checks(project, ()) is None  # `checks = []`: this one opts out


def test_a_convoy_member_s_checks_override_reaches_its_spec(tmp_path: Path) -> None:
    from samoflow.convoy.plan import load_plan
    from samoflow.convoy.setup import open_plan_convoy
    from samoflow.delivery.session_checks import session_checks
    from samoflow.session.spec import read_spec

    repo = make_repo(tmp_path / "r")
    (repo / ".samoflow.toml").write_text(BASE + '[checks]\ncommands = ["make test"]\n')
    (tmp_path / "plan.toml").write_text(
        'name = "duo"\n[[sessions]]\nname = "own"\ntask = "t"\nchecks = ["true"]\n'
        "changes_nothing = true\n[[sessions]]\nname = \"plain\"\ntask = \"t\"\n"
    )
    config = load_config(repo)
    open_plan_convoy(load_plan(tmp_path / "plan.toml"), config, 2)
    own = read_spec(config.sessions / "own" / "_session.json")
    plain = read_spec(config.sessions / "plain" / "_session.json")
    assert own.changes_nothing and not plain.changes_nothing
    assert session_checks(own) == ChecksConfig(commands=("true",))
    assert session_checks(plain) == ChecksConfig(commands=("make test",))
