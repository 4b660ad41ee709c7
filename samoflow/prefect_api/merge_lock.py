"""The merge queue's lock: one Prefect global concurrency limit (1 slot) per repository.

Every convoy, on any worker, merges into a repository only while it holds that limit's slot,
so two convoys (or two workers of one) never merge into one repository at once. The limit
is created on first use; its name is derived from the repository's path, so every process
that sees the same path agrees on it. A holder that dies loses its slot when the lease ends
(served).

The slot is taken with the limit's lease API directly rather than `prefect.concurrency`:
on SQLite (the embedded and the shared local server) taking a slot reads then writes, and
while a convoy's members write it is answered 503 "database is locked" about twice per
convoy (measured: 17 of the 18 503s of nine 12-member convoys were this call). Prefect's
client waits 2 s, then 4 s, before asking again; this lock asks again after a fifth of a
second (doubling while the server stays busy), on the convoy's critical path: its last merge.

On Prefect's embedded server no service reclaims expired leases (the repossessor runs only
in a served Prefect), so a holder that died there leaves the slot taken; a merger waiting
long says so, with the command that frees it.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import logging
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from uuid import UUID

import httpx
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.client.schemas.responses import ConcurrencyLimitWithLeaseResponse
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

from samoflow.settings import get_settings

# A Prefect limit name: short, and only characters its UI and CLI take as they are.
_UNSAFE = re.compile(r"[^a-z0-9-]+")
# How soon a call answered 503 (SQLite busy) is made again; Prefect's client honours it.
BUSY_RETRY_SECONDS = 0.2
# How long the server may stay busy before taking the slot fails (Prefect's own backoff
# gives up after about a minute too).
BUSY_LIMIT = 60.0
# Limits this process created or found: asking the server each time would put one more
# call on the critical path of a convoy's end.
_KNOWN_LIMITS: set[str] = set()
log = logging.getLogger(__name__)


class _LimitMissing(RuntimeError):
    """The server has no limit of that name (deleted since this process saw it)."""


def merge_lock_name(repo: Path) -> str:
    """`samoflow-merge-<folder slug>-<hash of the full path>`: readable and unique."""
    resolved = str(repo.resolve())
    slug = _UNSAFE.sub("-", repo.resolve().name.lower()).strip("-")[:32] or "repo"
    digest = hashlib.sha256(resolved.encode()).hexdigest()[:10]
    return f"samoflow-merge-{slug}-{digest}"


def ensure_merge_limit(name: str) -> None:
    """The limit with 1 slot, created if missing (a racing creator's 409 is as good)."""
    with get_client(sync_client=True) as client:
        try:
            client.read_global_concurrency_limit_by_name(name)
            return
        except ObjectNotFound:
            pass
        with contextlib.suppress(ObjectAlreadyExists):
            client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=1))


@contextmanager
def repository_merge_lock(repo: Path, timeout_seconds: float | None = None) -> Iterator[str]:
    """Hold the repository's merge slot for the body; yields the limit's name."""
    name = merge_lock_name(repo)
    lease_seconds = get_settings().merge_lock_lease_seconds
    deadline = None if timeout_seconds is None else time.monotonic() + timeout_seconds
    with _client() as client:
        lease = _take_slot(client, name, lease_seconds, deadline)
        try:
            with _renewed(lease, lease_seconds):  # a check may run for many minutes
                yield name
        finally:
            client.release_concurrency_slots_with_lease(lease_id=lease)


def _take_slot(
    client: SyncPrefectClient, name: str, lease_seconds: float, deadline: float | None
) -> UUID:
    """The slot's lease; the limit is created the first time this process needs it."""
    if name not in _KNOWN_LIMITS:
        ensure_merge_limit(name)
        _KNOWN_LIMITS.add(name)
    try:
        return _wait_for_slot(client, name, lease_seconds, deadline)
    except _LimitMissing:
        ensure_merge_limit(name)
        return _wait_for_slot(client, name, lease_seconds, deadline)


def _wait_for_slot(
    client: SyncPrefectClient, name: str, lease_seconds: float, deadline: float | None
) -> UUID:
    """Ask until the slot is free (423: held; the server says how long to wait) or the
    deadline passes (TimeoutError); 503 (SQLite busy) is asked again soon, for a minute."""
    started = time.monotonic()
    busy = 0  # 503s in a row: each wait doubles, from BUSY_RETRY_SECONDS
    warned = started
    while True:
        try:
            response = client.increment_concurrency_slots_with_lease(
                names=[name], slots=1, mode="concurrency", lease_duration=lease_seconds
            )
        except httpx.HTTPStatusError as error:
            busy = busy + 1 if _busy(error, started) else 0
            wait = _wait_after(error, busy)
            if deadline is not None and time.monotonic() + wait > deadline:
                raise TimeoutError(f"the merge lock {name} is held by another merger") from error
            warned = _warn_if_long(name, started, warned)
            time.sleep(wait)
            continue
        granted = ConcurrencyLimitWithLeaseResponse.model_validate(response.json())
        if not granted.limits:
            raise _LimitMissing(name)
        return granted.lease_id


def _busy(error: httpx.HTTPStatusError, started: float) -> bool:
    """503 within the first minute: SQLite busy, worth asking again; anything but 423 and
    that is re-raised."""
    status = error.response.status_code
    if status == httpx.codes.LOCKED:
        return False
    if status == httpx.codes.SERVICE_UNAVAILABLE and time.monotonic() < started + BUSY_LIMIT:
        return True
    raise error


def _wait_after(error: httpx.HTTPStatusError, busy: int) -> float:
    if busy:
        return min(BUSY_RETRY_SECONDS * 2.0 ** (busy - 1), 5.0)
    return float(error.response.headers.get("Retry-After", 1.0))


def _warn_if_long(name: str, started: float, warned: float) -> float:
    """Every minute of waiting, say so: on Prefect's embedded server no service frees the
    slot of a holder that died (its lease expires, the slot stays taken)."""
    now = time.monotonic()
    if now - warned < 60:
        return warned
    log.warning(
        "waiting %.0f s for the merge lock %s; if no other convoy merges into this "
        "repository, its slot was left taken (a killed holder on the embedded API): "
        "`prefect gcl update %s --active-slots 0` frees it",
        now - started,
        name,
        name,
    )
    return now


def _client() -> contextlib.AbstractContextManager[SyncPrefectClient]:
    """A client that asks again soon when SQLite is busy (503 without Retry-After)."""
    return get_client(sync_client=True, httpx_settings={"event_hooks": {"response": [_soon]}})


def _soon(response: httpx.Response) -> None:
    if response.status_code == httpx.codes.SERVICE_UNAVAILABLE:
        response.headers.setdefault("Retry-After", str(BUSY_RETRY_SECONDS))


@contextmanager
def _renewed(lease: UUID, lease_seconds: float) -> Iterator[None]:
    """The lease renewed while the body runs; a renewal that fails is logged, the merge goes
    on (the lease outlives a hiccup: renewed at a third of its length)."""
    stop = threading.Event()
    context = contextvars.copy_context()  # the caller's Prefect settings: the same API
    thread = threading.Thread(
        target=context.run,
        args=(_renew_until, lease, lease_seconds, stop),
        name=f"merge-lock-renewal-{lease}",
        daemon=True,
    )
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)


def _renew_until(lease: UUID, lease_seconds: float, stop: threading.Event) -> None:
    with _client() as client:
        while not stop.wait(lease_seconds / 3):
            try:
                client.renew_concurrency_lease(lease_id=lease, lease_duration=lease_seconds)
            except Exception as error:  # the next renewal may get through
                log.warning("merge lock lease %s not renewed: %s", lease, error)
