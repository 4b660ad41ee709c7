"""Where samoflow's flow runs keep their return values: in memory, never in Prefect storage.

A session's or convoy's outcome lives in its files (the history, `_convoy.json`); nothing
reads a flow run's result back from Prefect. Left unset, Prefect asks the server for its
default result storage three times at the start of every flow run (`GET /admin/storage`,
10-13 ms each, measured), to decide whether and where to persist a value nobody reads.
Saying "not persisted" and naming a local folder answers both without a request.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect.settings import PREFECT_LOCAL_STORAGE_PATH


def unpersisted_results() -> dict[str, Any]:
    """`@flow(**unpersisted_results())`: results kept in memory; the folder is never written
    (a Path, not a block: a block would have to be saved on the server first)."""
    return {"persist_result": False, "result_storage": Path(PREFECT_LOCAL_STORAGE_PATH.value())}
