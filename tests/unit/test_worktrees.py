import subprocess
import sys
from pathlib import Path

import git
import pytest

from samoflow.workspace.worktrees import RepoError, ensure_worktree, open_repo
from tests.conftest import make_repo

CREATE = """
import sys
from pathlib import Path
from samoflow.workspace.worktrees import ensure_worktree, open_repo
repo = open_repo(Path(sys.argv[1]))
for name in sys.argv[2:]:
    ensure_worktree(repo, Path(sys.argv[1]).parent / "wt" / name, f"samoflow/{name}", "main")
"""


def test_concurrent_processes_create_worktrees_in_one_repo(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    creators = [
        subprocess.Popen(
            [sys.executable, "-c", CREATE, str(repo), *[f"p{p}-{n}" for n in range(4)]]
        )
        for p in range(6)
    ]
    assert [c.wait(timeout=120) for c in creators] == [0] * 6
    branches = {h.name for h in git.Repo(repo).heads}
    assert {f"samoflow/p{p}-{n}" for p in range(6) for n in range(4)} <= branches


def test_a_worktree_is_reused_and_a_wrong_branch_refused(tmp_path: Path) -> None:
    repo = open_repo(make_repo(tmp_path / "repo"))
    path = tmp_path / "wt" / "a"
    assert ensure_worktree(repo, path, "samoflow/a", "main") == path.resolve()
    assert ensure_worktree(repo, path, "samoflow/a", "main") == path.resolve()
    with pytest.raises(RepoError, match="expected 'samoflow/b'"):
        ensure_worktree(repo, path, "samoflow/b", "main")


def test_a_folder_that_is_not_a_repository_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RepoError, match="not a git repository"):
        open_repo(tmp_path)
