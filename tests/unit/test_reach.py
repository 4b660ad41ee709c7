"""The one rule for reaching Prefect: the served server, else PREFECT_API_URL, else local;
a write for a served machine whose server is down is refused, never sent elsewhere."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from samoflow.serve.local import UpState, save_up
from samoflow.serve.reach import ReachError, Source, choose
from tests.conftest import free_port


class _Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path.endswith("/health") else 404)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def live_api() -> Iterator[str]:
    """An HTTP server on 127.0.0.1 that answers /api/health like Prefect does."""
    server = HTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/api"
    server.shutdown()
    server.server_close()


def dead_api() -> str:
    return f"http://127.0.0.1:{free_port()}/api"


def serve(home: Path, api_url: str) -> None:
    save_up(home, UpState(api_url=api_url, ui_url=api_url.removesuffix("/api"), repo="."))


def test_the_served_server_wins_over_prefect_api_url(tmp_path: Path, live_api: str) -> None:
    serve(tmp_path, live_api)
    route = choose(tmp_path, {"PREFECT_API_URL": dead_api()})
    assert (route.source, route.api_url) == (Source.SERVED, live_api)


def test_a_write_for_a_served_machine_whose_server_is_down_is_refused(
    tmp_path: Path, live_api: str
) -> None:
    serve(tmp_path, dead_api())
    with pytest.raises(ReachError, match="does not answer; nothing was written"):
        choose(tmp_path, {"PREFECT_API_URL": live_api})
    # Reading may go on elsewhere: nothing is lost by it.
    assert choose(tmp_path, {"PREFECT_API_URL": live_api}, writes=False).source is Source.ENV


def test_prefect_api_url_when_nothing_is_served(tmp_path: Path, live_api: str) -> None:
    assert choose(tmp_path, {"PREFECT_API_URL": live_api}).api_url == live_api
    with pytest.raises(ReachError, match="does not answer"):
        choose(tmp_path, {"PREFECT_API_URL": dead_api()})


def test_the_shared_servers_url_in_the_environment_is_still_the_shared_server(
    tmp_path: Path, live_api: str
) -> None:
    from samoflow.atomic import atomic_write_model
    from samoflow.serve.shared import USERS, LocalServer, record_path

    server = LocalServer(api_url=live_api, pid=1, started=0.0, log="local-server.log")
    atomic_write_model(record_path(tmp_path), server)
    route = choose(tmp_path, {"PREFECT_API_URL": live_api})
    assert (route.source, route.api_url) == (Source.SHARED, live_api)
    assert len(list((tmp_path / USERS).iterdir())) == 1  # this process keeps it alive
    assert choose(tmp_path, {"PREFECT_API_URL": live_api + "/"}).source is Source.SHARED
    record_path(tmp_path).unlink()
    assert choose(tmp_path, {"PREFECT_API_URL": live_api}).source is Source.ENV


def test_embedded_on_request(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from samoflow.settings import get_settings

    monkeypatch.setenv("SAMOFLOW_PREFECT_API", "embedded")
    get_settings.cache_clear()
    route = choose(tmp_path, {})
    assert (route.source, route.api_url) == (Source.EMBEDDED, None)
