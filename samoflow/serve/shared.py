"""The shared local Prefect server: what commands use when nothing is served and no API is set.

Prefect's embedded mode starts a temporary server per process, all on one SQLite file: two
sessions in two shells then lock each other out. Instead the first command that needs Prefect
starts ONE `prefect server start` on 127.0.0.1 (under a small supervisor process), recorded
in `<home>/local.json` with pid and start time; later commands reuse it. Each command that
uses it registers itself in `<home>/local-users/`; the supervisor stops the server once no
registered process is alive for `local_server_idle_seconds`.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
from pydantic import BaseModel, ConfigDict

from samoflow.atomic import atomic_write_model, read_model
from samoflow.serve.local import ServedError, healthy, prefect_env, server_env, wait_for
from samoflow.settings import get_settings

RECORD = "local.json"
USERS = "local-users"
LOCK = "local.lock"
SERVER_DEADLINE_SECONDS = 150.0


class LocalServer(BaseModel):
    model_config = ConfigDict(frozen=True)

    api_url: str
    pid: int  # the supervisor: its process group holds the server
    started: float
    log: str


def record_path(home: Path) -> Path:
    return home / RECORD


def alive(pid: int, started: float) -> bool:
    try:
        return abs(psutil.Process(pid).create_time() - started) < 0.01
    except psutil.NoSuchProcess:
        return False


def is_shared_server(home: Path, api_url: str) -> bool:
    """`api_url` is the shared server recorded in `home` (alive or not; a torn or unreadable
    record is no answer's worth: False)."""
    try:
        record = read_model(record_path(home), LocalServer)
    except (OSError, ValueError):
        return False
    return record is not None and record.api_url.rstrip("/") == api_url.rstrip("/")


def running_server(home: Path) -> LocalServer | None:
    """The recorded shared server if its supervisor is alive and the API answers."""
    try:
        record = read_model(record_path(home), LocalServer)
    except ValueError:
        return None  # a torn record: start a new one
    if record is None or not alive(record.pid, record.started):
        return None
    return record if healthy(record.api_url) else None


@contextlib.contextmanager
def _locked(home: Path) -> Iterator[None]:
    """One shell at a time decides whether to start the server (two would start two)."""
    home.mkdir(parents=True, exist_ok=True)
    with (home / LOCK).open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_local_server(home: Path, announce: Callable[[str], object] = print) -> str:
    """The shared server's API URL, started if needed; this process is registered as a user."""
    with _locked(home):
        record = running_server(home)
        if record is None:
            announce("starting the local Prefect server (later commands in any shell reuse it)")
            record = _start(home)
        register_user(home)
    return record.api_url


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(home: Path) -> LocalServer:
    log = home / "logs" / "local-server.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    api_url = f"http://127.0.0.1:{_free_port()}/api"
    argv = [sys.executable, "-m", "samoflow.serve.shared", str(home), api_url]
    with log.open("ab") as out:
        process = subprocess.Popen(
            argv, env=prefect_env(api_url), stdout=out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
    record = LocalServer(
        api_url=api_url, pid=process.pid, started=psutil.Process(process.pid).create_time(),
        log=str(log),
    )
    atomic_write_model(record_path(home), record)
    try:
        wait_for(
            lambda: healthy(api_url) or process.poll() is not None,
            SERVER_DEADLINE_SECONDS, "the local Prefect server",
        )
    except ServedError:
        _kill_group(record.pid)
        raise
    if process.poll() is not None:
        raise ServedError(f"the local Prefect server exited; see {log}")
    return record


def register_user(home: Path, pid: int | None = None) -> None:
    """Mark a process as using the shared server (pid + start time; removed at its exit)."""
    process = psutil.Process(pid or os.getpid())
    users = home / USERS
    users.mkdir(parents=True, exist_ok=True)
    entry = users / f"{process.pid}-{process.create_time():.2f}"
    entry.touch()
    if pid is None:
        atexit.register(entry.unlink, missing_ok=True)


def live_users(home: Path) -> int:
    """Registered processes still running; the dead ones' entries are removed."""
    count = 0
    for entry in (home / USERS).glob("*-*"):
        pid, _, started = entry.name.partition("-")
        if alive(int(pid), float(started)):
            count += 1
        else:
            entry.unlink(missing_ok=True)
    return count


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGTERM)


def _forget_mine(home: Path) -> None:
    """Remove the record if it is this supervisor's (a newer server may have replaced it)."""
    with contextlib.suppress(ValueError):
        record = read_model(record_path(home), LocalServer)
        if record is not None and record.pid == os.getpid():
            record_path(home).unlink(missing_ok=True)


def _retire(home: Path) -> bool:
    """Forget the server unless a command registered meanwhile (under the starters' lock)."""
    with _locked(home):
        if live_users(home) > 0:
            return False
        _forget_mine(home)
        return True


def supervise(home: Path, api_url: str) -> int:
    """Run the server until it has had no live user for the idle time (or it dies)."""
    port = api_url.rsplit(":", 1)[1].split("/")[0]
    argv = [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
            "--port", port]
    server = subprocess.Popen(argv, env=server_env(api_url, None))
    stopping = False

    def on_term(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_term)
    idle_since = time.monotonic()
    idle = get_settings().local_server_idle_seconds
    while not stopping and server.poll() is None:
        time.sleep(1.0)
        if live_users(home) > 0:
            idle_since = time.monotonic()
        elif time.monotonic() - idle_since > idle and _retire(home):
            break
    if stopping or server.poll() is not None:
        with _locked(home):
            _forget_mine(home)
    server.terminate()
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()
    return 0


if __name__ == "__main__":
    sys.exit(supervise(Path(sys.argv[1]), sys.argv[2]))
