"""Quick first retries for an API on this machine; Prefect's own backoff for any other.

Prefect's client retries a 503 (and a dropped connection) after 2, 4, 8, 16 and 32 s,
spread a little. That suits a remote server that is overloaded. A Prefect server on this
machine answers 503 when SQLite refuses a write for a moment ("database is locked": a
transaction that read first cannot take the write lock while another commits), and that
clears in milliseconds. Measured on a 12-member convoy on the embedded API: one such 503
put 2 s on the convoy's start; starting members while others wrote made them cascade,
and the last member's first agent started 8-25 s in instead of 3 s.

So while the API is on this machine (Prefect's temporary server, or a URL on a loopback
address) the waits are 0.05, 0.2, 0.5, 2 and 4 s: 6.75 s in all before a request
fails, instead of 62 s. Two member creations at once on the embedded API were still refused
four times running now and then (the fourth of Prefect's waits, 16 s, then put 20-50 s on a
convoy's start); one at a time, a retry is rare and its wait short. Prefect's client module
gets a stand-in for the function that spreads its waits (`clamped_poisson_interval`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from urllib.parse import urlsplit

from prefect.client import base
from prefect.settings import PREFECT_API_URL

# Prefect's wait (2 ** attempt seconds) -> the wait for an API on this machine.
LOCAL_WAITS = {2.0: 0.05, 4.0: 0.2, 8.0: 0.5, 16.0: 2.0, 32.0: 4.0}


def api_on_this_machine(url: str | None) -> bool:
    """No URL (Prefect's temporary server) or one whose host is a loopback address."""
    if not url:
        return True
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _LocalWaits:
    """`clamped_poisson_interval` as Prefect's client sees it."""

    def __init__(self, spread: Callable[..., float]) -> None:
        self.spread = spread

    def __call__(self, average_interval: float, clamping_factor: float = 0.3) -> float:
        local = LOCAL_WAITS.get(float(average_interval))
        if local is not None and api_on_this_machine(PREFECT_API_URL.value()):
            average_interval = local
        return self.spread(average_interval, clamping_factor)


def quick_local_retries() -> None:
    """Install the stand-in once per process. A Prefect that no longer spreads its waits
    with that function is left as it is: the waits are then only longer, never wrong."""
    current = getattr(base, "clamped_poisson_interval", None)
    if current is None or isinstance(current, _LocalWaits):
        return
    base.clamped_poisson_interval = _LocalWaits(current)  # type: ignore[attr-defined]
