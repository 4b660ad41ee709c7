"""`samoflow up`'s own PostgreSQL: PostgreSQL 16 from the `pgserver` wheel, data under the home.

No system install and no port: the server listens on a unix socket only, its data lives in
`<home>/postgres`, and it keeps running after `samoflow up` returns (the Prefect server uses
it) until `samoflow down` stops it. The Prefect server reaches it through SQLAlchemy's asyncpg
driver with the socket folder as `host`.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import psutil
from pydantic import BaseModel, ConfigDict

DATABASE = "prefect"


class PostgresError(RuntimeError):
    """The embedded PostgreSQL did not start or stop; the message carries its log's tail."""


class EmbeddedPostgres(BaseModel):
    model_config = ConfigDict(frozen=True)

    data_dir: str
    pid: int
    started: float  # psutil create_time: a reused pid is never mistaken for ours
    url: str  # for PREFECT_API_DATABASE_CONNECTION_URL


def data_dir(home: Path) -> Path:
    return home / "postgres"


def start_postgres(home: Path) -> EmbeddedPostgres:
    """Start (or find running) the home's PostgreSQL and its `prefect` database."""
    from pgserver.postgres_server import get_server  # a heavy import, only for `samoflow up`

    folder = data_dir(home)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        server = get_server(folder, cleanup_mode=None)  # None: outlives this process
        _ensure_database(server)
        pid = server.get_pid()
    except Exception as error:  # pgserver raises CalledProcessError, TimeoutExpired, ...
        detail = f"embedded PostgreSQL did not start: {error}\n{_log_tail(folder)}"
        raise PostgresError(detail) from error
    if pid is None:
        raise PostgresError(f"embedded PostgreSQL is not running\n{_log_tail(folder)}")
    return EmbeddedPostgres(
        data_dir=str(folder),
        pid=pid,
        started=psutil.Process(pid).create_time(),
        url=prefect_url(server.get_uri(DATABASE)),
    )


def _ensure_database(server: object) -> None:
    psql = server.psql  # type: ignore[attr-defined]
    found = psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}';")
    if "(1 row)" not in found:
        psql(f"CREATE DATABASE {DATABASE};")


def prefect_url(uri: str) -> str:
    """pgserver's `postgresql://postgres:@/db?host=/socket/dir` as an asyncpg URL."""
    parsed = urlparse(uri)
    host = parse_qs(parsed.query).get("host", [""])[0]
    user = parsed.username or "postgres"
    return f"postgresql+asyncpg://{user}@/{parsed.path.lstrip('/')}?host={host}"


def is_running(postgres: EmbeddedPostgres) -> bool:
    try:
        return abs(psutil.Process(postgres.pid).create_time() - postgres.started) < 0.01
    except psutil.Error:
        return False


def stop_postgres(postgres: EmbeddedPostgres, grace_seconds: float = 20.0) -> bool:
    """Stop it (fast shutdown: sessions end, data stays); False when it was not running."""
    if not is_running(postgres):
        return False
    import pgserver._commands as commands  # the wheel's own wrapper (runs as its system user)

    pg_ctl = commands.pg_ctl  # type: ignore[attr-defined]  # made by a factory at import

    user = "pgserver" if os.geteuid() == 0 else None  # as pgserver itself does for root
    try:
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=Path(postgres.data_dir), user=user)
    except Exception:  # pg_ctl failed: end the postmaster by signal, as pg_ctl would
        with contextlib.suppress(psutil.Error):
            psutil.Process(postgres.pid).terminate()
    with contextlib.suppress(psutil.Error):
        psutil.Process(postgres.pid).wait(timeout=grace_seconds)
    if is_running(postgres):
        raise PostgresError(f"embedded PostgreSQL (pid {postgres.pid}) did not stop")
    return True


def _log_tail(folder: Path, lines: int = 20) -> str:
    log = folder / "log"
    try:
        return "\n".join(log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no PostgreSQL log)"
