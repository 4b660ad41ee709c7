"""A Prefect client of this test process for a server the test started itself (a served
machine's `samoflow up`), beside the fixture server the rest of the process talks to.
In process: a client subprocess per poll cost about 2 s of CPU each (Prefect's import)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.settings import PREFECT_API_URL, temporary_settings


@contextmanager
def client_of(api_url: str) -> Iterator[SyncPrefectClient]:
    with (
        temporary_settings(updates={PREFECT_API_URL: api_url}),
        get_client(sync_client=True) as client,
    ):
        yield client
