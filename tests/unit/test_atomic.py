import os
from pathlib import Path

import pytest

from samoflow.atomic import atomic_append_line, atomic_write_text


def test_a_failed_write_leaves_the_old_content_and_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "state.json"
    atomic_write_text(path, "old")

    def broken_replace(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        atomic_write_text(path, "new")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_append_adds_whole_lines(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    path.write_text('{"a": 1}')  # a last line without newline is completed, not merged
    atomic_append_line(path, '{"b": 2}')
    assert path.read_text().splitlines() == ['{"a": 1}', '{"b": 2}']
