"""`samoflow up`'s own PostgreSQL: started from the wheel, outlives its starter, reachable by
SQLAlchemy's asyncpg driver as the Prefect server uses it, stopped without leftovers."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from samoflow.serve.postgres import EmbeddedPostgres, is_running, stop_postgres

pytestmark = pytest.mark.slow

STARTER = (
    "import sys; from pathlib import Path; from samoflow.serve.postgres import start_postgres; "
    "print(start_postgres(Path(sys.argv[1])).model_dump_json())"
)


async def _select_one(url: str) -> int:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            return int((await connection.execute(text("select 1"))).scalar_one())
    finally:
        await engine.dispose()


def _start_in_a_process_that_exits(home: Path) -> EmbeddedPostgres:
    done = subprocess.run(
        [sys.executable, "-c", STARTER, str(home)], capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return EmbeddedPostgres.model_validate_json(done.stdout.strip().splitlines()[-1])


def test_the_embedded_postgres_serves_prefect_after_its_starter_exits(tmp_path: Path) -> None:
    home = tmp_path / "home"
    postgres = _start_in_a_process_that_exits(home)
    try:
        assert is_running(postgres)
        assert postgres.url.startswith("postgresql+asyncpg://postgres@/prefect?host=/")
        assert asyncio.run(_select_one(postgres.url)) == 1
        again = _start_in_a_process_that_exits(home)  # a second `up` finds the same server
        assert again.pid == postgres.pid
    finally:
        stopped = stop_postgres(postgres)
    assert stopped and not is_running(postgres)
    assert not any(
        "postgres" in (p.info["name"] or "") and str(home) in " ".join(p.info["cmdline"] or [])
        for p in psutil.process_iter(attrs=["name", "cmdline"])
    )
    assert (home / "postgres" / "PG_VERSION").exists()  # the data stays for the next `up`
    assert stop_postgres(postgres) is False  # stopping twice is harmless
