"""The agent's side of the inbox: `_inbox/msg-<seq>-<id>.json` files, moved to `read/` once seen.

A message counts as seen by an iteration when it was in `_inbox/` before that iteration's
agent started; `_inbox/.seen-by` remembers which files those were across restarts.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from samoflow.atomic import atomic_write_text
from samoflow.session.files import SessionFiles

MESSAGE_FILE = re.compile(r"msg-(\d+)-")


def unread_messages(files: SessionFiles) -> list[str]:
    if not files.inbox.is_dir():
        return []
    return sorted(path.name for path in files.inbox.glob("msg-*.json"))


def highest_seq_on_disk(files: SessionFiles) -> int:
    """The newest message number in `_inbox/` or `_inbox/read/` (0: none): a cheap hint of
    what was delivered; Prefect's mark stays the truth."""
    numbers = [
        int(match.group(1))
        for folder in (files.inbox, files.inbox_read)
        for path in (folder.glob("msg-*.json") if folder.is_dir() else ())
        if (match := MESSAGE_FILE.match(path.name))
    ]
    return max(numbers, default=0)


def _seen_record(files: SessionFiles) -> Path:
    return files.inbox / ".seen-by"


def note_shown(files: SessionFiles, iteration: int, names: list[str]) -> None:
    """Remember which messages the hook of `iteration` listed."""
    if names:
        atomic_write_text(_seen_record(files), json.dumps({"iteration": iteration, "names": names}))


def move_seen_messages(files: SessionFiles, iteration: int) -> list[str]:
    """After `iteration` ended, its listed messages are read: move them to `_inbox/read/`."""
    record = _seen_record(files)
    if not record.exists():
        return []
    seen = json.loads(record.read_text(encoding="utf-8"))
    if seen.get("iteration") != iteration:
        return []
    files.inbox_read.mkdir(parents=True, exist_ok=True)
    moved = []
    for name in seen.get("names", []):
        source = files.inbox / name
        if source.exists():
            os.replace(source, files.inbox_read / name)
            moved.append(name)
    record.unlink(missing_ok=True)
    return moved
