"""Every Prefect server samoflow starts records task runs in batches (serve/server_tuning.py)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from samoflow.serve.local import prefect_env, server_env
from samoflow.serve.server_tuning import SERVER_TUNING

BATCH = "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_BATCH_SIZE"
FLUSH = "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_FLUSH_INTERVAL"


def test_samoflows_own_servers_get_the_tuning_and_a_users_value_wins(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(BATCH, raising=False)
    for env in (prefect_env("http://127.0.0.1:4200/api"), server_env("http://x/api", None)):
        assert {name: env[name] for name in SERVER_TUNING} == SERVER_TUNING
    monkeypatch.setenv(BATCH, "7")
    assert prefect_env("http://127.0.0.1:4200/api")[BATCH] == "7"


def test_a_process_that_imports_the_prefect_side_hands_it_to_prefects_temporary_server() -> None:
    """Prefect starts its temporary server from os.environ: importing samoflow's Prefect side
    puts the tuning there, without overriding what the user set."""
    probe = (
        "import os, samoflow.prefect_api; "
        f"print(os.environ[{BATCH!r}], os.environ[{FLUSH!r}])"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_SERVER_SERVICES_")}
    fresh = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True)
    assert fresh.stdout.split() == ["100", "1"], fresh.stderr
    mine = subprocess.run(
        [sys.executable, "-c", probe], env={**env, BATCH: "3"}, capture_output=True, text=True
    )
    assert mine.stdout.split() == ["3", "1"], mine.stderr
