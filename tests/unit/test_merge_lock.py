"""The merge lock on this machine (an flock in the repository's git folder), and when it
is the whole lock: on an API no other machine reaches."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest
from prefect.settings import PREFECT_API_URL, temporary_settings

from samoflow.atomic import atomic_write_model
from samoflow.prefect_api.merge_lock import api_of_this_machine, repository_merge_lock
from samoflow.serve.shared import LocalServer, record_path
from samoflow.workspace.merge_lock import machine_merge_lock, merge_lock_path
from tests.conftest import make_repo

HOLD = """
import sys, time
from pathlib import Path
from samoflow.workspace.merge_lock import machine_merge_lock
with machine_merge_lock(Path(sys.argv[1])):
    print("held", flush=True)
    sys.stdin.readline()
"""


def test_one_merger_per_repository_across_threads_and_processes(tmp_path: Path) -> None:
    first, second = make_repo(tmp_path / "one"), make_repo(tmp_path / "two")
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with machine_merge_lock(first):
            held.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(30)
        with pytest.raises(TimeoutError, match="merge lock"), machine_merge_lock(first, 0.2):
            pass  # another thread of this process waits
        with machine_merge_lock(second, 5):
            pass  # another repository's queue is not held up
    finally:
        release.set()
        holder.join(30)
    with machine_merge_lock(first, 5):
        pass  # released when the holder is done

    other = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(first)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    assert other.stdout is not None and other.stdout.readline().strip() == "held"
    try:
        with pytest.raises(TimeoutError), machine_merge_lock(first, 0.2):
            pass  # another process holds it
    finally:
        other.kill()  # a dead holder releases it with its descriptors
        other.wait()
    with machine_merge_lock(first, 5):
        pass
    assert merge_lock_path(first) == first / ".git" / "samoflow-merge.lock"


def test_a_worktree_shares_its_repositorys_lock(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    worktree = tmp_path / "wt"
    subprocess.run(["git", "worktree", "add", "-q", "-b", "side", str(worktree)], cwd=repo,
                   check=True)
    assert merge_lock_path(worktree) == merge_lock_path(repo)
    gone = tmp_path / "gone"  # no repository: still a lock, then git's own error
    assert merge_lock_path(gone) == merge_lock_path(tmp_path / "x" / ".." / "gone")
    with machine_merge_lock(gone, 1):
        pass


def test_the_flock_is_the_whole_lock_only_on_an_api_of_this_machine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("SAMOFLOW_HOME", str(home))
    shared = "http://127.0.0.1:9/api"  # nothing answers there: a Prefect call would fail
    atomic_write_model(
        record_path(home), LocalServer(api_url=shared, pid=1, started=0.0, log="x")
    )
    with temporary_settings(updates={PREFECT_API_URL: ""}):
        assert api_of_this_machine()  # Prefect's temporary server of this process
    with temporary_settings(updates={PREFECT_API_URL: "http://10.0.0.5:4200/api"}):
        assert not api_of_this_machine()  # any other server: its limit too
    with temporary_settings(updates={PREFECT_API_URL: shared + "/"}):
        assert api_of_this_machine()
        repo = make_repo(tmp_path / "repo")
        with repository_merge_lock(repo, timeout_seconds=5) as name:
            assert name.startswith("samoflow-merge-repo-")  # held with no API call at all
