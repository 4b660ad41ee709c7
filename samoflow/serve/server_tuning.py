"""Settings for every Prefect server a samoflow process starts: Prefect's temporary server,
the shared local server, `samoflow up`'s (each is started with this process's environment).

Task runs reach a Prefect 3 server as events (Pending, Running, Completed: three an
iteration), which its task run recorder writes to the database. By default it writes each
event in a transaction of its own as it comes (`batch_size` 1): on SQLite, where one
connection writes at a time, every one of them competes with the API's own writes, and a
write that read first is refused ("database is locked", a 503 the client retries).
Measured with benchmarks/convoy_efficiency.py (12 members, embedded SQLite API): batched
(up to 100 a write, at least once a second) the server used 2.9-3.6 s of CPU a convoy
instead of 4.9-6.1 s, the last member's first agent started 1.2-1.5 s in instead of
1.3-2.7 s, and the convoy reached 88-91 % of ideal in all 28 runs; before, 82-90 % in 36 of
40, and the other 4 waited 60 s, SQLite's busy timeout, on a write that this recorder and
an API request (a member's creation) each held or waited for (README's benchmarks). A
task run shows in the UI up to a second later; the recorder writes what it holds when the
server stops.

A value the user set in the environment is kept.
"""

from __future__ import annotations

import os

SERVER_TUNING = {
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_BATCH_SIZE": "100",
    # Whole seconds: Prefect sleeps `int(flush_interval)` between flushes.
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_FLUSH_INTERVAL": "1",
}


def tune_servers_started_here() -> None:
    """Into this process's environment, which the servers it starts inherit: Prefect starts
    its temporary server from `os.environ` (samoflow's own get them from `prefect_env` too)."""
    for name, value in SERVER_TUNING.items():
        os.environ.setdefault(name, value)
