"""Stop / pause tests: orchestrators as real processes, agents that hang or wait on a file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from pathlib import Path

import psutil

from samoflow.session.files import SessionFiles
from samoflow.session.journal import process_alive, read_journal
from tests.support.convoys import full_scenario

PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent
SAMOFLOW = [sys.executable, "-m", "samoflow.cli"]
# The first attempt of iteration 1 hangs; the attempt after a resume goes through to done.
HANGS_FIRST = full_scenario(first_step_extra="hang_on_attempts = [1]\n")


def waits_for(release: Path) -> str:
    """Iteration 1 runs until the test creates `release`."""
    return full_scenario(first_step_extra=f'wait_for = "{release}"\n')


def cli(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SAMOFLOW, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "COLUMNS": "200"},
    )


def agent_pid(files: SessionFiles) -> int | None:
    """The running agent's pid, if the journal names a live one."""
    journal = read_journal(files.journal)
    if journal is None or not process_alive(journal.agent_pid, journal.agent_started):
        return None
    return journal.agent_pid


def group_alive(pgid: int) -> bool:
    """Any process of the agent's process group (its children included) still running."""
    for process in psutil.process_iter(["pid", "status"]):
        with suppress(psutil.Error):
            if os.getpgid(process.pid) == pgid and process.status() != psutil.STATUS_ZOMBIE:
                return True
    return False


@contextmanager
def background(argv: list[str], log: Path, **env: str) -> Iterator[subprocess.Popen[bytes]]:
    """A process in its own group, ended (group and all) when the test leaves."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            argv,
            cwd=PROJECT_ROOT,
            env={**os.environ, "COLUMNS": "200", **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def run_session(
    repo: Path, name: str, scenario: Path, log: Path
) -> AbstractContextManager[subprocess.Popen[bytes]]:
    """`samoflow run --local` of a new auto-approved scripted session, in the background."""
    argv = [*SAMOFLOW, "run", "add a greeting", "--session", name, "--repo", str(repo),
            "--agent", "scripted", "--scenario", str(scenario), "--auto-approve", "--local"]
    return background(argv, log)
