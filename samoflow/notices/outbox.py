"""The notice outbox: Slack messages on disk until the channel took them, each key sent once.

`<sessions>/_notices/` holds `pending/<key>.json` (queued, or failed and waiting for the
next try), `sending/<key>@<pid>-<start>.json` (claimed by a live flusher: the claimant is
in the file name, so the claim is one atomic rename) and `sent/<key>.json` (delivered: the
key is never queued again). Queueing and claiming take a file lock, so threads and
processes flushing the same outbox never both send one key.

A claim whose process died was cut off during the POST itself: nobody can know whether
Slack got it (an incoming webhook has no idempotency key). The message is re-sent: a
possible duplicate, in a window of one HTTP request, beats a lost message.
(Not to be confused with a session's `_outbox/`, agent-to-session messages.)
"""

from __future__ import annotations

import fcntl
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import psutil
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from samoflow.atomic import atomic_write_model
from samoflow.clock import utcnow
from samoflow.notices.slack import SlackPayload
from samoflow.session.files import NOTICES_DIR
from samoflow.session.journal import process_alive

KEY_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,150}$")
CHANNELS_DIR = "channels"  # `_notices/channels/<name>/`: the outboxes of the extra channels


class QueuedNotice(BaseModel):
    model_config = ConfigDict(frozen=True)

    key: str
    payload: SlackPayload
    queued_at: datetime = Field(default_factory=utcnow)
    attempts: int = 0
    last_error: str | None = None
    sent_at: datetime | None = None
    receipt: str | None = None  # the channel's id of the delivered message (replies find it)
    session: str | None = None  # the session a reply to this message acts on


class FlushReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    sent: tuple[str, ...] = ()
    failed: tuple[tuple[str, str], ...] = ()  # (key, error)
    pending: int = 0  # still queued after this flush


class NoticeOutbox:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.pending = root / "pending"
        self.sending = root / "sending"
        self.sent = root / "sent"

    @classmethod
    def for_sessions(cls, sessions_root: Path) -> NoticeOutbox:
        return cls(sessions_root / NOTICES_DIR)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        for folder in (self.pending, self.sending, self.sent):
            folder.mkdir(parents=True, exist_ok=True)
        with (self.root / ".lock").open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)  # one open() per call: threads exclude too
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _claims(self, key: str) -> list[Path]:
        return sorted(self.sending.glob(f"{key}@*.json")) if self.sending.is_dir() else []

    def known(self, key: str) -> bool:
        queued = (self.pending / f"{key}.json").exists() or (self.sent / f"{key}.json").exists()
        return queued or bool(self._claims(key))

    def enqueue(self, key: str, payload: SlackPayload, session: str | None = None) -> bool:
        """Queue `payload` under `key`; False when the key was queued or sent before."""
        if not KEY_PATTERN.match(key):
            raise ValueError(f"notice key {key!r} must be a lowercase slug")
        with self._locked():
            if self.known(key):
                return False
            item = QueuedNotice(key=key, payload=payload, session=session)
            atomic_write_model(self.pending / f"{key}.json", item)
            return True

    def find(self, key: str) -> QueuedNotice | None:
        """The stored message under `key`, wherever it is (sent, pending, being sent)."""
        for path in [self.sent / f"{key}.json", self.pending / f"{key}.json", *self._claims(key)]:
            if path.exists() and (item := _read(path)) is not None:
                return item
        return None

    def sent_item(self, key: str) -> QueuedNotice | None:
        path = self.sent / f"{key}.json"
        return _read(path) if path.exists() else None

    def pending_count(self) -> int:
        return len(list(self.pending.glob("*.json"))) if self.pending.is_dir() else 0

    @classmethod
    def for_channel(cls, sessions_root: Path, channel: str) -> NoticeOutbox:
        """One outbox per extra channel: each holds its own once-per-key record."""
        if not KEY_PATTERN.match(channel):
            raise ValueError(f"channel name {channel!r} must be a lowercase slug")
        return cls(sessions_root / NOTICES_DIR / CHANNELS_DIR / channel)

    def session_of(self, receipt: str) -> str | None:
        """The session whose delivered notice became the channel's message `receipt`."""
        for item in self.sent_items():
            if item.receipt == receipt:
                return item.session
        return None

    def sent_items(self) -> list[QueuedNotice]:
        paths = sorted(self.sent.glob("*.json")) if self.sent.is_dir() else []
        return [item for path in paths if (item := _read(path)) is not None]

    def flush(self, send: Callable[[SlackPayload], object]) -> FlushReport:
        """Send every pending message once; a failure leaves it pending for the next flush."""
        sent: list[str] = []
        failed: list[tuple[str, str]] = []
        tried: set[str] = set()  # a message that failed waits for the next flush
        while (claim := self._claim_next(tried)) is not None:
            path, item = claim
            tried.add(item.key)
            try:
                receipt = send(item.payload)
            except Exception as error:  # any channel failure: keep the message, go on
                self._release(path, item, str(error)[:500])
                failed.append((item.key, str(error)[:500]))
                continue
            except BaseException:
                self._release(path, item, "interrupted")
                raise
            self._mark_sent(path, item, receipt if isinstance(receipt, str) else None)
            sent.append(item.key)
        return FlushReport(sent=tuple(sent), failed=tuple(failed), pending=self.pending_count())

    def _claim_next(self, tried: set[str]) -> tuple[Path, QueuedNotice] | None:
        """Atomically take the oldest pending message this flush has not tried yet."""
        with self._locked():
            self._recover_orphans()
            for path in sorted(self.pending.glob("*.json"), key=lambda p: p.stat().st_mtime):
                item = _read(path)
                if item is None or item.key in tried:
                    continue
                claimed = self.sending / f"{item.key}@{_claimant()}.json"
                os.replace(path, claimed)
                return claimed, item
        return None

    def _recover_orphans(self) -> None:
        for path in self.sending.glob("*@*.json"):
            key, _, claimant = path.stem.partition("@")
            pid_text, _, started = claimant.partition("-")
            if process_alive(int(pid_text), float(started)):
                continue  # a live flusher is sending it right now
            if (self.sent / f"{key}.json").exists():
                path.unlink(missing_ok=True)  # delivered; only the cleanup was cut off
            else:
                os.replace(path, self.pending / f"{key}.json")  # re-sent: see the docstring

    def _release(self, claimed: Path, item: QueuedNotice, error: str) -> None:
        with self._locked():
            updated = item.model_copy(update={"attempts": item.attempts + 1, "last_error": error})
            atomic_write_model(self.pending / f"{item.key}.json", updated)
            claimed.unlink(missing_ok=True)

    def _mark_sent(self, claimed: Path, item: QueuedNotice, receipt: str | None) -> None:
        with self._locked():
            update = {"attempts": item.attempts + 1, "last_error": None, "sent_at": utcnow(),
                      "receipt": receipt}
            done = item.model_copy(update=update)
            atomic_write_model(self.sent / f"{item.key}.json", done)  # first the proof ...
            claimed.unlink(missing_ok=True)  # ... then the claim: a crash in between is safe


def _claimant() -> str:
    pid = os.getpid()
    return f"{pid}-{psutil.Process(pid).create_time():.6f}"


def _read(path: Path) -> QueuedNotice | None:
    try:
        return QueuedNotice.model_validate_json(path.read_text(encoding="utf-8"))
    except (OSError, ValidationError):
        return None
