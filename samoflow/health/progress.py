"""Progress of a running attempt: what counts, when it was last seen, how often it may be
announced, and a cheap mtime scan that notices file changes (no inotify dependency).

`_progress.json` holds the last progress the orchestrator saw, for a stall handler that runs
in another process. Files the orchestrator itself writes never count as progress.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from samoflow.atomic import atomic_write_model, read_model, temp_file_target
from samoflow.clock import utcnow
from samoflow.session.files import ORCHESTRATOR_NAMES, SessionFiles

# Large or derived folders of a working tree: scanning them costs more than it tells.
SKIPPED_DIRS = frozenset(
    {
        ".git",
        "node_modules",
        ".venv",
        "venv",
        "__pycache__",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".tox",
    }
)


class ProgressRecord(BaseModel):
    """`_progress.json`: the last progress seen in the attempt in flight."""

    model_config = ConfigDict(frozen=True)

    at: datetime
    what: str
    iteration: int
    attempt: int


def progress_path(files: SessionFiles) -> Path:
    return files.progress


def write_progress(files: SessionFiles, record: ProgressRecord) -> None:
    atomic_write_model(progress_path(files), record, durable=False)  # rewritten per beat


def read_progress(files: SessionFiles) -> ProgressRecord | None:
    path = progress_path(files)
    return read_model(path, ProgressRecord)


class Beat(BaseModel):
    """Progress worth announcing: when it was last seen and what it was."""

    model_config = ConfigDict(frozen=True)

    at: datetime
    what: str
    observations: int  # progress sightings folded into this one announcement


class ProgressTracker:
    """Thread-safe: the output reader, the scanner and the watchdog share one tracker."""

    def __init__(self, min_interval_seconds: float, clock: Callable[[], datetime] = utcnow):
        self._interval = min_interval_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._last_at = clock()
        self._last_what = "watch started"
        self._pending = 0
        self._announced_at: datetime | None = None

    def saw(self, what: str) -> None:
        with self._lock:
            self._last_at = self._clock()
            self._last_what = what
            self._pending += 1

    @property
    def last(self) -> tuple[datetime, str]:
        with self._lock:
            return self._last_at, self._last_what

    def idle_seconds(self) -> float:
        with self._lock:
            return (self._clock() - self._last_at).total_seconds()

    def take_beat(self) -> Beat | None:
        """The progress seen since the last beat, if the rate limit lets one out now.

        Called on every watchdog tick, so a burst's last line is announced at most one
        interval late, and with the time it was seen, not the time it was announced.
        """
        with self._lock:
            now = self._clock()
            if self._pending == 0:
                return None
            if self._announced_at is not None and (
                (now - self._announced_at).total_seconds() < self._interval
            ):
                return None
            beat = Beat(at=self._last_at, what=self._last_what, observations=self._pending)
            self._pending = 0
            self._announced_at = now
            return beat


@dataclass(frozen=True)
class Snapshot:
    """A folder tree at one moment, reduced to a digest of (path, mtime, size) of its entries."""

    digest: str
    entries: int
    newest: str  # the most recently modified entry, relative: what a human is shown


def _listing(folder: str) -> list[os.DirEntry[str]]:
    """A folder's entries sorted by name (a stable digest); [] if it vanished meanwhile."""
    try:
        with os.scandir(folder) as listing:
            return sorted(listing, key=lambda entry: entry.name)
    except OSError:
        return []


def _orchestrators(name: str) -> bool:
    """A file the orchestrator writes, or the temp file of its atomic write of one
    (`.<name>.<random>.tmp`, see `samoflow/atomic.py`): a scan that meets one mid-write
    (a stall step recorded by the handler, say) must not take it for the agent's progress.
    An agent's own temp files still count."""
    return name in ORCHESTRATOR_NAMES or temp_file_target(name) in ORCHESTRATOR_NAMES


def scan_tree(root: Path, max_entries: int) -> Snapshot:
    """Depth-first over `root`, ours and heavy folders left out, at most `max_entries`."""
    digest = hashlib.blake2b(digest_size=16)
    count, newest, newest_mtime = 0, "", -1
    pending = [iter(_listing(str(root)))]
    while pending and count < max_entries:
        entry = next(pending[-1], None)
        if entry is None:
            pending.pop()
            continue
        if _orchestrators(entry.name) or entry.name in SKIPPED_DIRS:
            continue
        try:
            stat = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        digest.update(f"{entry.path}\0{stat.st_mtime_ns}\0{stat.st_size}\n".encode())
        count += 1
        if stat.st_mtime_ns > newest_mtime:
            newest, newest_mtime = entry.path, stat.st_mtime_ns
        if entry.is_dir(follow_symlinks=False):
            pending.append(iter(_listing(entry.path)))
    relative = os.path.relpath(newest, root) if newest else ""
    return Snapshot(digest=digest.hexdigest(), entries=count, newest=relative)


class ChangeScanner:
    """Remembers each watched tree's last snapshot; says which tree changed since."""

    def __init__(self, roots: dict[str, Path], max_entries: int):
        self._roots = roots
        self._max = max_entries
        self._seen: dict[str, Snapshot] = {}

    def changed(self) -> str | None:
        """What changed since the last call (None on the first call: that sets the baseline)."""
        found: list[str] = []
        for label, root in self._roots.items():
            snapshot = scan_tree(root, self._max)
            before = self._seen.get(label)
            self._seen[label] = snapshot
            if before is not None and before.digest != snapshot.digest:
                found.append(f"file change in the {label} ({snapshot.newest or 'a removal'})")
        return "; ".join(found) or None
