import os
import subprocess
import sys
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


APPENDER = """
import sys
from pathlib import Path
from samoflow.atomic import atomic_append_line
for number in range(int(sys.argv[3])):
    atomic_append_line(Path(sys.argv[1]), f'{{"by": "{sys.argv[2]}", "n": {number}}}')
"""


def test_two_processes_appending_at_once_keep_every_row_whole(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    path.write_text('{"first": true}\n')
    rows = 300
    writers = [
        subprocess.Popen([sys.executable, "-c", APPENDER, str(path), who, str(rows)])
        for who in ("a", "b")
    ]
    assert [writer.wait(timeout=120) for writer in writers] == [0, 0]
    lines = path.read_text().splitlines()
    assert lines[0] == '{"first": true}' and len(lines) == 1 + 2 * rows
    for who in ("a", "b"):  # each writer's rows, whole and in its own order
        mine = [line for line in lines if f'"by": "{who}"' in line]
        assert mine == [f'{{"by": "{who}", "n": {n}}}' for n in range(rows)]


def test_append_creates_the_file_and_never_merges_into_a_torn_last_row(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "h.jsonl"
    atomic_append_line(path, '{"a": 1}\n')  # its own newline is not doubled
    with path.open("ab") as handle:
        handle.write(b'{"torn": ')  # what an OS crash mid-write can leave
    atomic_append_line(path, '{"b": 2}')
    assert path.read_bytes() == b'{"a": 1}\n{"torn": \n{"b": 2}\n'
