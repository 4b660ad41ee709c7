"""Progress: the rate-limited announcements and the mtime scan that notices file changes."""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path

from samoflow.clock import utcnow
from samoflow.health.progress import ChangeScanner, ProgressTracker, scan_tree


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def test_the_first_progress_is_announced_at_once_then_at_most_once_per_interval() -> None:
    clock = Clock()
    tracker = ProgressTracker(10, clock)
    tracker.saw("attempt 1 started")
    first = tracker.take_beat()
    assert first is not None and first.what == "attempt 1 started"
    for _ in range(5):
        clock.advance(1)
        tracker.saw("agent output")
        assert tracker.take_beat() is None  # inside the interval: folded, not announced
    clock.advance(5)
    beat = tracker.take_beat()
    assert beat is not None and beat.observations == 5


def test_a_burst_is_announced_with_the_time_its_last_line_was_seen() -> None:
    clock = Clock()
    tracker = ProgressTracker(10, clock)
    tracker.saw("start")
    tracker.take_beat()
    clock.advance(2)
    tracker.saw("agent output")
    seen_at = clock.now
    clock.advance(30)  # silence after the burst
    beat = tracker.take_beat()
    assert beat is not None and beat.at == seen_at
    assert tracker.idle_seconds() == 30
    assert tracker.take_beat() is None  # nothing new: nothing to announce


def test_the_scan_sees_a_new_file_an_edit_a_rename_and_a_removal(tmp_path: Path) -> None:
    scanner = ChangeScanner({"working tree": tmp_path}, max_entries=1000)
    (tmp_path / "a.py").write_text("one")
    assert scanner.changed() is None  # the first scan is the baseline
    (tmp_path / "b.py").write_text("new")
    assert scanner.changed() == "file change in the working tree (b.py)"
    assert scanner.changed() is None
    os.utime(tmp_path / "a.py", ns=(1, 10**18))
    assert scanner.changed() is not None
    (tmp_path / "b.py").rename(tmp_path / "c.py")
    assert scanner.changed() is not None
    (tmp_path / "c.py").unlink()
    assert scanner.changed() is not None


def test_the_scan_ignores_what_the_orchestrator_writes_and_git(tmp_path: Path) -> None:
    (tmp_path / "_inbox").mkdir()
    (tmp_path / ".git").mkdir()
    scanner = ChangeScanner({"session folder": tmp_path}, max_entries=1000)
    scanner.changed()
    for name in ("_lease.json", "_progress.json", "_stall.json", "_iteration.json"):
        (tmp_path / name).write_text("{}")
    (tmp_path / "_inbox" / "msg-000001-x.json").write_text("{}")
    (tmp_path / ".git" / "index").write_text("x")
    assert scanner.changed() is None
    # An atomic write of ours caught mid-way (its temp file, then the rename): not progress.
    (tmp_path / "._stall.json.k2j4x9aa.tmp").write_text("{}")
    assert scanner.changed() is None
    (tmp_path / "._stall.json.k2j4x9aa.tmp").rename(tmp_path / "_stall.json")
    assert scanner.changed() is None
    (tmp_path / ".notes.md.q1w2e3r4.tmp").write_text("the agent's own atomic write")
    assert scanner.changed() is not None
    (tmp_path / "_overview.md").write_text("# agent-owned")
    assert scanner.changed() is not None


def test_the_scan_stops_at_its_entry_budget(tmp_path: Path) -> None:
    for number in range(50):
        (tmp_path / f"f{number:02d}").write_text("x")
    snapshot = scan_tree(tmp_path, max_entries=10)
    assert snapshot.entries == 10
