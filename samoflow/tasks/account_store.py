"""Accounts on Prefect: one Variable per account holds its status; changes are serialised.

The Variable `samoflow-account-<account>` is read before every attempt (one GET: the cost
the benchmark measures). A change (pause, probe claim, resume, spend) reads, changes and
writes it while holding the one slot of the global concurrency limit
`samoflow-account-lock-<account>`, so workers on any machine never interleave two changes;
its lease frees the slot if the holder dies. Both live on the server: a SIGKILLed
orchestrator leaves the pause in place.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.concurrency.sync import concurrency
from prefect.exceptions import ObjectAlreadyExists
from prefect.variables import Variable

from samoflow.economy.accounts import AccountStatus
from samoflow.serve.bells import ACCOUNT, ring

VARIABLE_PREFIX = "samoflow-account-"
LOCK_PREFIX = "samoflow-account-lock-"
VARIABLE_TAGS = ["samoflow", "samoflow-account"]
# A holder that dies inside a change frees the slot when its lease ends (Prefect's least
# lease, 60 s, plus up to 15 s until the server's repossessor runs): waiters outlast that.
LOCK_LEASE_SECONDS = 60.0
LOCK_TIMEOUT_SECONDS = 150.0
_LOCKS_MADE: set[str] = set()  # limits this process has made sure of


def variable_name(account: str) -> str:
    return f"{VARIABLE_PREFIX}{account}"


def lock_name(account: str) -> str:
    return f"{LOCK_PREFIX}{account}"


def read_status(account: str) -> AccountStatus:
    return status_from(account, Variable.get(variable_name(account), default=None))


def status_from(account: str, value: object) -> AccountStatus:
    """The status a Variable's value holds (no Variable yet: active)."""
    if not isinstance(value, dict):
        return AccountStatus(account=account)
    return AccountStatus.model_validate(value)


def _write(status: AccountStatus) -> None:
    value: Any = status.model_dump(mode="json")
    Variable.set(variable_name(status.account), value, overwrite=True, tags=VARIABLE_TAGS)
    ring(ACCOUNT, status.account)  # the account's sessions on this machine look again


def _ensure_lock(account: str) -> None:
    name = lock_name(account)
    if name in _LOCKS_MADE:
        return
    # Made by another session already: the same one slot.
    with get_client(sync_client=True) as client, contextlib.suppress(ObjectAlreadyExists):
        client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=1))
    _LOCKS_MADE.add(name)


def update_status(
    account: str, change: Callable[[AccountStatus], AccountStatus]
) -> tuple[AccountStatus, AccountStatus]:
    """(before, after) of one serialised change; written only when it changed something."""
    _ensure_lock(account)
    with concurrency(
        lock_name(account),
        occupy=1,
        strict=True,
        timeout_seconds=LOCK_TIMEOUT_SECONDS,
        lease_duration=LOCK_LEASE_SECONDS,
    ):
        before = read_status(account)
        after = change(before)
        if after != before:
            _write(after)
    return before, after


def list_statuses() -> list[AccountStatus]:
    with get_client(sync_client=True) as client:
        variables = client.read_variables()
    found = [
        AccountStatus.model_validate(v.value)
        for v in variables
        if v.name.startswith(VARIABLE_PREFIX)
        and not v.name.startswith(LOCK_PREFIX)
        and isinstance(v.value, dict)
    ]
    return sorted(found, key=lambda status: status.account)
