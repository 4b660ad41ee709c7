"""The embedded PostgreSQL of `samoflow up`, for real: initdb, start, the extension Prefect
needs, a SIGKILL (its stale lock file naming a live pid), a restart on the same data and
port, adoption by the next `up`, the clean stop; and the error when the binaries are missing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from samoflow.cli import served
from samoflow.serve import embedded_postgres as pg
from samoflow.serve.local import ServedError, Started, UpState
from tests.conftest import wait_until

pytestmark = pytest.mark.slow


def sql(url: str, statement: str) -> str:
    port = url.rsplit(":", 1)[1].split("/")[0]
    psql = [str(pg.bin_dir() / "psql"), "-h", pg.HOST, "-p", port, "-U", pg.USER]
    done = subprocess.run(
        [*psql, "-d", pg.DATABASE, "-tAc", statement], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    home = tmp_path / "home"
    yield home
    running = pg.running_postmaster(pg.data_dir(home))
    if running is not None:  # a failed assertion must not leave a postmaster behind
        running[0].kill()


def started(home: Path) -> Started:
    process = pg.launch(home)
    pg.wait_ready(home, process)
    return process


def test_it_survives_a_kill_keeps_its_data_and_stops_cleanly(home: Path) -> None:
    url = pg.prepare(home)
    first = started(home)
    sql(url, "create extension if not exists pg_trgm")  # Prefect's migrations need it
    sql(url, "create table kept (answer int); insert into kept values (42)")

    backends = psutil.Process(first.pid).children()
    os.kill(first.pid, signal.SIGKILL)
    psutil.wait_procs([psutil.Process(first.pid), *backends], timeout=30)
    lock = pg.data_dir(home) / "postmaster.pid"
    squatter = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        # The stale lock names a live pid that is not a postmaster: PostgreSQL alone would
        # refuse to start ("Is another postmaster running?").
        lines = lock.read_text().splitlines()
        lock.write_text("\n".join([str(squatter.pid), *lines[1:]]) + "\n")
        assert pg.prepare(home) == url  # same data, same port: the same server for `up`
        second = started(home)
    finally:
        squatter.kill()
        squatter.wait()
    assert second.pid != first.pid
    assert sql(url, "select answer from kept") == "42"
    assert pg.launch(home).pid == second.pid  # already running on this data: taken, not doubled

    previous = UpState(
        api_url="http://127.0.0.1:9/api",
        ui_url="",
        repo=str(home),
        processes=[second],
        database_url=url,
        home=str(home),
    )
    fresh = previous.model_copy(update={"processes": []})
    adopted = served._after_dead_server(previous, fresh, home)
    assert [p.pid for p in adopted.processes] == [second.pid]  # the next `up` keeps it
    on_sqlite = fresh.model_copy(update={"database_url": None})
    assert served._after_dead_server(previous, on_sqlite, home).processes == []
    wait_until(lambda: pg.running_postmaster(pg.data_dir(home)) is None, 30, "the stop")
    assert not lock.exists()  # a clean (fast) shutdown, not a kill
    assert pg.stop_postgres(second) is False  # gone: nothing else is signalled


def test_missing_binaries_name_the_fixes(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(pg.BIN_DIR_ENV, str(home / "nowhere"))
    with pytest.raises(ServedError) as error:
        pg.prepare(home)
    assert all(fix in str(error.value) for fix in ("make setup", "--sqlite", "--database-url"))
    up = subprocess.run(
        [sys.executable, "-m", "samoflow.cli", "up", "--home", str(home), "--port", "9"],
        env={**os.environ, pg.BIN_DIR_ENV: str(home / "nowhere")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert up.returncode == 2 and "make setup" in up.stdout, up.stdout + up.stderr
    assert not (home / "up.json").exists()  # nothing was started
