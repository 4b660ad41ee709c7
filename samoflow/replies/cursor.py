"""Where each listener stopped reading (`_notices/channels/<name>/replies.json`), under a lock.

The cursor moves past a reply before it is acted on: a listener that dies in between loses
that one action rather than doing it twice (an approval or a stop must not repeat). The
lock keeps two listeners (a scheduled run and `samoflow listen`) from reading at once.
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from samoflow.atomic import atomic_write_model, read_model
from samoflow.notices.outbox import NoticeOutbox

CURSOR = "replies.json"
LOCK = "replies.lock"


class Cursor(BaseModel):
    model_config = ConfigDict(frozen=True)

    offset: int | None = None  # Telegram: the next update id to read
    threads: dict[str, str] = Field(default_factory=dict)  # Slack: thread ts -> last reply ts


def cursor_path(outbox: NoticeOutbox) -> Path:
    return outbox.root / CURSOR


def read_cursor(outbox: NoticeOutbox) -> Cursor:
    return read_model(cursor_path(outbox), Cursor) or Cursor()


def write_cursor(outbox: NoticeOutbox, cursor: Cursor) -> None:
    atomic_write_model(cursor_path(outbox), cursor)


@contextlib.contextmanager
def reading(outbox: NoticeOutbox) -> Iterator[bool]:
    """True while this process is the only reader; False when another one reads now."""
    outbox.root.mkdir(parents=True, exist_ok=True)
    with (outbox.root / LOCK).open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
