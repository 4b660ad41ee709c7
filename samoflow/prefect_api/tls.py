"""One TLS context per process for all of Prefect's API clients, not one per client.

Prefect builds a fresh `ssl.create_default_context(cafile=<certifi's bundle>)` in every
`PrefectClient` and `SyncPrefectClient` it makes, even for `http://127.0.0.1`. It makes one for
every flow run, for the events and logs workers, and for the parent task run of every
subflow. Parsing the CA bundle costs 50 ms of CPU each on this 2-core VM, and 75 ms under load.
One test suite run built 1,919 of them, 144 s of CPU (traced with a `sitecustomize` that
counted every call). A convoy member paid for one before its first agent could start.

A context holds only the trust roots and the verification mode. Python's `SSLContext` is
safe to share between threads and event loops, and httpx shares one per client anyway. So
Prefect's client module gets a stand-in for the `ssl` module whose `create_default_context`
builds each distinct context (the same arguments: the same certificate file) once, and
hands it out again. Everything else is the real `ssl` module.

Prefect's insecure branch (`PREFECT_API_TLS_INSECURE_SKIP_VERIFY`) calls it with no
arguments and then switches verification off on what it gets. That context is cached under
its own key, so a verified client never receives it. A certificate file that changes on disk
while a process runs is read again only by the next process.
"""

from __future__ import annotations

import ssl
import threading
from types import ModuleType
from typing import Any

from prefect.client import orchestration


class _SharedContexts:
    """The `ssl` module as Prefect's client module sees it, with contexts built once."""

    def __init__(self, real: ModuleType) -> None:
        self._real = real
        self._made: dict[tuple[object, ...], ssl.SSLContext] = {}
        self._lock = threading.Lock()

    def create_default_context(
        self,
        purpose: ssl.Purpose = ssl.Purpose.SERVER_AUTH,
        *,
        cafile: str | None = None,
        capath: str | None = None,
        cadata: str | bytes | None = None,
    ) -> ssl.SSLContext:
        key = (purpose, cafile, capath, cadata)
        with self._lock:  # two clients made at once must not both parse the bundle
            context = self._made.get(key)
            if context is None:
                context = self._real.create_default_context(
                    purpose, cafile=cafile, capath=capath, cadata=cadata
                )
                self._made[key] = context
            return context

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def share_tls_contexts() -> None:
    """Install the stand-in once per process. A Prefect whose client module no longer uses
    `ssl` by that name is left as it is: it only costs time, never correctness."""
    current = getattr(orchestration, "ssl", None)
    if isinstance(current, _SharedContexts) or current is not ssl:
        return
    orchestration.ssl = _SharedContexts(ssl)  # type: ignore[attr-defined,assignment]
