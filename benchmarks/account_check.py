"""The account check's cost per attempt: one read of the account's Variable (and a change).

Run: `.venv/bin/python -m benchmarks.account_check [READS]`. Every attempt of every session
reads its account's status once (`account_gate`); a pause, probe claim or resume also takes
the account's lock and writes (`update_status`). Uses whatever Prefect API is configured
(the embedded one by default; set PREFECT_API_URL for a served one).
"""

from __future__ import annotations

import os
import statistics
import sys
import time
import uuid


def _ms(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[int(len(ordered) * 0.95) - 1]
    return f"median {statistics.median(ordered) * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms"


def main(reads: int = 200) -> None:
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from samoflow.economy.accounts import AccountStatus
    from samoflow.tasks.account_store import read_status, update_status

    account = f"bench-{uuid.uuid4().hex[:8]}"
    update_status(account, lambda s: s.model_copy(update={"reason": "warm"}))  # creates both
    read_samples, change_samples = [], []
    for _ in range(reads):
        started = time.perf_counter()
        read_status(account)
        read_samples.append(time.perf_counter() - started)
    for n in range(max(10, reads // 10)):
        started = time.perf_counter()
        update_status(account, lambda s, n=n: AccountStatus(account=s.account, reason=str(n)))
        change_samples.append(time.perf_counter() - started)
    print(f"account check per attempt (Variable read), {reads} reads: {_ms(read_samples)}")
    print(f"account change (lock + read + write), {len(change_samples)}: {_ms(change_samples)}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
