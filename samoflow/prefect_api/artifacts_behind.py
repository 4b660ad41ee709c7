"""Artifacts published behind the loop: the next iteration (or merge) does not wait for the API.

One thread per process publishes, for each key (a session folder, a convoy record), the
newest request it was handed (a later picture covers an earlier one), at most once per
`PUBLISH_SPACING_SECONDS` per key: an iteration of minutes gets its own update, a loop of
fast iterations (or twelve members ending within a second) does not send the API an update
each. Measured on a 12-member convoy of 3 s iterations on the embedded SQLite API, 1 s
apart: 137 artifact writes in 20 s (each card twice an iteration), averaging 85 ms as they
queued with the members' own writes; the API server is what a convoy waits for there.
A run settles before it ends (publishing at once, a spaced request too), so a finished
run's cards are complete when its caller looks; an API error is logged and tried again
with the next request (a card is a view of files).
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from samoflow.prefect_api.artifacts import publish_session_artifacts
from samoflow.session.files import SessionFiles

PUBLISH_SPACING_SECONDS = 5.0
# How long the end of a run waits for a publish in flight (the API's own timeouts are 30 s).
SETTLE_SECONDS = 120.0

log = logging.getLogger(__name__)


@dataclass
class _Request:
    context: contextvars.Context  # the caller's: the flow run the cards belong to, the API
    label: str  # for the log: what the cards show
    publish: Callable[[], object]
    due: float  # monotonic time from which it may go


class _Publisher:
    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._pending: dict[str, _Request] = {}
        self._busy: set[str] = set()
        # key -> when its last publish started (before the first: its first request)
        self._last: dict[str, float] = {}
        self._thread: threading.Thread | None = None

    def submit(
        self, key: str, label: str, publish: Callable[[], object], *, now: bool = False
    ) -> None:
        with self._changed:
            # A key never published counts its spacing from its first request: a run of
            # fast iterations sends its cards once, at its end (its settle), not also after
            # its first iteration; a run of minute-long ones shows them 5 s after its first.
            last = self._last.setdefault(key, time.monotonic())
            due = time.monotonic() if now else last + PUBLISH_SPACING_SECONDS
            earlier = self._pending.get(key)
            if earlier is not None:
                due = min(due, earlier.due)
            self._pending[key] = _Request(contextvars.copy_context(), label, publish, due)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="samoflow-artifacts", daemon=True
                )
                self._thread.start()
            self._changed.notify_all()

    def settle(self, key: str) -> None:
        """Until `key`'s newest picture is out: one still spaced goes now."""
        with self._changed:
            pending = self._pending.get(key)
            if pending is not None and pending.due > time.monotonic():
                pending.due = time.monotonic()
                self._changed.notify_all()
            self._changed.wait_for(
                lambda: key not in self._pending and key not in self._busy, SETTLE_SECONDS
            )

    def _due(self) -> str | None:
        """A pending key whose turn it is (not one in flight: never two at once)."""
        now = time.monotonic()
        ready = [k for k, r in self._pending.items() if r.due <= now and k not in self._busy]
        return ready[0] if ready else None

    def _take(self) -> tuple[str, _Request]:
        with self._changed:
            while (key := self._due()) is None:
                # A key in flight wakes this when it is done (notify), others when due.
                now = time.monotonic()
                waits = [r.due - now for k, r in self._pending.items() if k not in self._busy]
                self._changed.wait(max(0.01, min(waits)) if waits else None)
            self._busy.add(key)
            self._last[key] = time.monotonic()
            return key, self._pending.pop(key)

    def _run(self) -> None:
        while True:
            key, request = self._take()
            try:
                request.context.run(request.publish)
            except Exception as error:  # the API: the next request tries again
                log.warning("artifacts of %s not published: %s", request.label, error)
            finally:
                with self._changed:
                    self._busy.discard(key)
                    self._changed.notify_all()


_PUBLISHER = _Publisher()


def _submit_cards(files: SessionFiles, *, now: bool = False) -> str:
    """The session's cards asked for; returns their key (the session folder)."""
    key = str(files.root)
    _PUBLISHER.submit(key, files.name, lambda: publish_session_artifacts(files), now=now)
    return key


def publish_behind(files: SessionFiles, *, now: bool = False) -> None:
    """Ask for the session's cards to be brought up to date, without waiting for it; `now`
    (the run ends or waits: its last picture) goes before the spacing is over."""
    _submit_cards(files, now=now)


# Set around a session run whose caller settles its cards itself (a convoy's subflow member:
# the convoy waits for them all at its end). Twelve members ending together would otherwise
# each wait for the one publisher thread in turn before their convoy could merge them.
_SETTLED_BY_CALLER: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "samoflow_cards_settled_by_caller", default=False
)


def publish_and_settle(files: SessionFiles) -> None:
    """Bring the cards up to date at once and wait until they are (the end of a run), or
    leave the wait to the caller that said it settles them (`settled_by_caller`)."""
    key = _submit_cards(files, now=True)
    if not _SETTLED_BY_CALLER.get():
        _PUBLISHER.settle(key)


@contextmanager
def settled_by_caller() -> Iterator[None]:
    """Runs inside publish their final cards without waiting; the caller calls
    `settle_sessions` for them before it ends."""
    token = _SETTLED_BY_CALLER.set(True)
    try:
        yield
    finally:
        _SETTLED_BY_CALLER.reset(token)


def settle_sessions(session_dirs: Iterable[str]) -> None:
    """Wait until the cards of these sessions are out (each bounded by SETTLE_SECONDS)."""
    for session_dir in session_dirs:
        _PUBLISHER.settle(str(SessionFiles(Path(session_dir)).root))  # `_submit_cards`'s key


def picture_behind(key: str, label: str, publish: Callable[[], object]) -> None:
    """Any other picture (a convoy's progress and table) the same way: the newest of `key`'s
    requests goes, without waiting for it; `settle_picture` waits for it to be out."""
    _PUBLISHER.submit(key, label, publish)


def settle_picture(key: str) -> None:
    _PUBLISHER.settle(key)
