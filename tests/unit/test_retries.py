"""Prefect's client retries quickly while its API is on this machine (prefect_api/retries.py)."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import ClassVar

from prefect.client import base
from prefect.client.orchestration import SyncPrefectClient
from prefect.settings import PREFECT_API_URL, temporary_settings

import samoflow.prefect_api  # noqa: F401  (installs the quick retries, as every flow does)
from samoflow.prefect_api.retries import LOCAL_WAITS, api_on_this_machine, quick_local_retries


def test_an_api_on_this_machine_is_a_loopback_host_or_prefects_temporary_server() -> None:
    assert api_on_this_machine(None) and api_on_this_machine("")
    assert api_on_this_machine("http://127.0.0.1:4200/api")
    assert api_on_this_machine("http://localhost:4200/api")
    assert api_on_this_machine("http://[::1]:4200/api")
    assert api_on_this_machine("http://127.8.0.3/api")
    assert not api_on_this_machine("https://api.prefect.cloud/api/accounts/a/workspaces/w")
    assert not api_on_this_machine("http://10.0.0.5:4200/api")
    assert not api_on_this_machine("http://prefect.internal:4200/api")


def test_the_waits_are_quick_for_a_local_api_and_prefects_own_for_a_remote_one() -> None:
    spread = base.clamped_poisson_interval
    quick_local_retries()  # a second install changes nothing
    assert base.clamped_poisson_interval is spread
    with temporary_settings(updates={PREFECT_API_URL: "http://127.0.0.1:4200/api"}):
        for prefects, ours in LOCAL_WAITS.items():
            waits = [spread(prefects, 0.2) for _ in range(200)]
            assert max(waits) <= ours * 1.2 + 1e-9  # Prefect's spread: at most 20 % above
        assert min(spread(2.0, 0.2) for _ in range(200)) > 0  # still spread, never zero
    with temporary_settings(updates={PREFECT_API_URL: "https://api.prefect.cloud/api"}):
        assert min(spread(2.0, 0.2) for _ in range(200)) > LOCAL_WAITS[2.0] * 1.2


class _Flaky(http.server.BaseHTTPRequestHandler):
    """Refuses the first two requests as a locked SQLite server does, then answers."""

    answers: ClassVar[list[int]] = [503, 503, 200]
    seen: ClassVar[list[int]] = []

    def do_GET(self) -> None:
        status = self.answers[min(len(self.seen), len(self.answers) - 1)]
        self.seen.append(status)
        body = b'"ok"' if status == 200 else b'{"exception_message": "Service Unavailable"}'
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        return


@contextmanager
def _flaky_server() -> Iterator[str]:
    _Flaky.seen = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Flaky)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api"
    finally:
        server.shutdown()
        server.server_close()


def test_a_refused_request_to_a_local_api_is_retried_until_it_is_answered() -> None:
    with (
        _flaky_server() as url,
        temporary_settings(updates={PREFECT_API_URL: url}),
        SyncPrefectClient(url) as client,
    ):
        response = client.request("GET", "/health")  # type: ignore[arg-type]
    assert response.status_code == 200
    assert _Flaky.seen == [503, 503, 200]
