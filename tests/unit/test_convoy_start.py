"""When the first wave of a convoy's subflows starts its work, and on which API it may
start without holding the wave (PostgreSQL, as `samoflow up` serves it)."""

from __future__ import annotations

from pathlib import Path

import pytest
from prefect.settings import PREFECT_API_URL, temporary_settings

from samoflow.flows.convoy_members import api_on_postgres, turn_delay
from samoflow.serve.local import UpState, save_up


def test_a_member_waits_for_its_place_in_the_spacing_counted_from_the_first_start() -> None:
    assert turn_delay(0, 0.25, first_start=100.0, now=100.0) == 0.0
    assert turn_delay(3, 0.25, first_start=100.0, now=100.25) == pytest.approx(0.5)
    # Its creation took longer than its turn: it starts at once, never a negative wait.
    assert turn_delay(3, 0.25, first_start=100.0, now=102.0) == 0.0
    assert turn_delay(5, 0.0, first_start=100.0, now=100.0) == 0.0


def _served(home: Path, database_url: str | None) -> None:
    save_up(
        home,
        UpState(
            api_url="http://127.0.0.1:4200/api",
            ui_url="http://127.0.0.1:4200",
            repo=str(home),
            database_url=database_url,
        ),
    )


def test_only_samoflow_ups_own_server_on_postgresql_counts_as_postgresql(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SAMOFLOW_HOME", str(tmp_path))
    with temporary_settings(updates={PREFECT_API_URL: "http://127.0.0.1:4200/api/"}):
        assert not api_on_postgres()  # nothing served
        _served(tmp_path, "postgresql+asyncpg://postgres@127.0.0.1:5433/prefect")
        assert api_on_postgres()
        _served(tmp_path, None)  # `samoflow up --sqlite`
        assert not api_on_postgres()
    _served(tmp_path, "postgresql+asyncpg://postgres@127.0.0.1:5433/prefect")
    with temporary_settings(updates={PREFECT_API_URL: "http://127.0.0.1:9999/api"}):
        assert not api_on_postgres()  # another server than the one `up` serves
    (tmp_path / "up.json").write_text('{"api_url": "http://127.0.0.1:4200/api", "ui_u')
    with temporary_settings(updates={PREFECT_API_URL: "http://127.0.0.1:4200/api"}):
        assert not api_on_postgres()  # cut off mid-write: the careful start, no crash
