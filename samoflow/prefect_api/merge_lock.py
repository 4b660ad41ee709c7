"""The merge queue's lock: one Prefect global concurrency limit (1 slot) per repository,
taken after the repository's lock on this machine (`workspace/merge_lock.py`, an flock).

Every convoy, on any worker, merges into a repository only while it holds that limit's slot,
so two convoys (or two workers of one) never merge into one repository at once. The limit
is created on first use; its name is derived from the repository's path, so every process
that sees the same path agrees on it. A holder that dies loses its slot when the lease ends.

On an API that only this machine reaches (Prefect's temporary server of this process, or
samoflow's shared local server on 127.0.0.1) the flock alone is the lock: every process that
could merge runs here and takes it. That API is SQLite: measured with 12 convoy members
writing at once (benchmarks/convoy_efficiency.py), the limit's release failed on "database is
locked" in about one convoy run in four, and the next merge then waited out the 60 s lease
(the temporary server runs no repossessor either): 17 % of ideal instead of about 60 %.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.concurrency.sync import concurrency
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound
from prefect.settings import PREFECT_API_URL

from samoflow.serve.local import default_home
from samoflow.serve.shared import is_shared_server
from samoflow.settings import get_settings
from samoflow.workspace.merge_lock import machine_merge_lock

# A Prefect limit name: short, and only characters its UI and CLI take as they are.
_UNSAFE = re.compile(r"[^a-z0-9-]+")


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


def api_of_this_machine() -> bool:
    """The API no other machine reaches: no PREFECT_API_URL (Prefect's temporary server in
    this process), or the shared local server samoflow started on 127.0.0.1."""
    url = str(PREFECT_API_URL.value() or "")
    return not url or is_shared_server(default_home(), url)


@contextmanager
def repository_merge_lock(repo: Path, timeout_seconds: float | None = None) -> Iterator[str]:
    """Hold the repository's merge lock for the body: this machine's, then (unless the API
    is this machine's alone) the limit's slot, each within `timeout_seconds`; yields the
    limit's name."""
    name = merge_lock_name(repo)
    with machine_merge_lock(repo, timeout_seconds):
        if api_of_this_machine():
            yield name
            return
        with prefect_merge_slot(name, timeout_seconds):
            yield name


@contextmanager
def prefect_merge_slot(name: str, timeout_seconds: float | None) -> Iterator[None]:
    """The limit's one slot: the lock between machines."""
    ensure_merge_limit(name)
    # A check may run for many minutes: a renewal hiccup must not kill the merge midway.
    with concurrency(
        name,
        occupy=1,
        timeout_seconds=timeout_seconds,
        lease_duration=get_settings().merge_lock_lease_seconds,  # renewed while it is held
        strict=True,
        raise_on_lease_renewal_failure=False,
    ):
        yield
