"""The merge queue's lock: one Prefect global concurrency limit (1 slot) per repository.

Every convoy, on any worker, merges into a repository only while it holds that limit's slot,
so two convoys (or two workers of one) never merge into one repository at once. The limit
is created on first use; its name is derived from the repository's path, so every process
that sees the same path agrees on it. A holder that dies loses its slot when the lease ends.
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

from samoflow.settings import get_settings

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


@contextmanager
def repository_merge_lock(repo: Path, timeout_seconds: float | None = None) -> Iterator[str]:
    """Hold the repository's merge slot for the body; yields the limit's name."""
    name = merge_lock_name(repo)
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
        yield name
