"""Session artifacts published behind the loop: the next iteration does not wait for the API.

One thread per process publishes, for each session, the newest request it was handed (a
publish reads the files anew, so a later request covers an earlier one), at most once per
`PUBLISH_SPACING_SECONDS` per session: an iteration of minutes gets its own update, a loop
of fast iterations does not send the API an update per iteration. The flow settles before
it ends (publishing at once), so a finished run's cards are complete when its caller looks;
an API error is logged and tried again with the next request (a card is a view of files).
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from dataclasses import dataclass

from samoflow.prefect_api.artifacts import publish_session_artifacts
from samoflow.session.files import SessionFiles

PUBLISH_SPACING_SECONDS = 1.0
# How long the end of a run waits for a publish in flight (the API's own timeouts are 30 s).
SETTLE_SECONDS = 120.0

log = logging.getLogger(__name__)


@dataclass
class _Request:
    context: contextvars.Context  # the caller's: the flow run the cards belong to, the API
    files: SessionFiles
    due: float  # monotonic time from which it may go


class _Publisher:
    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._pending: dict[str, _Request] = {}
        self._busy: set[str] = set()
        self._last: dict[str, float] = {}  # session folder -> when its last publish started
        self._thread: threading.Thread | None = None

    def submit(self, files: SessionFiles, *, now: bool = False) -> None:
        key = str(files.root)
        with self._changed:
            due = time.monotonic() if now else self._last.get(key, 0.0) + PUBLISH_SPACING_SECONDS
            earlier = self._pending.get(key)
            if earlier is not None:
                due = min(due, earlier.due)
            self._pending[key] = _Request(contextvars.copy_context(), files, due)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="samoflow-artifacts", daemon=True
                )
                self._thread.start()
            self._changed.notify_all()

    def settle(self, files: SessionFiles) -> None:
        key = str(files.root)
        with self._changed:
            self._changed.wait_for(
                lambda: key not in self._pending and key not in self._busy, SETTLE_SECONDS
            )

    def _due(self) -> str | None:
        """A pending session whose turn it is (not one in flight: never two at once)."""
        now = time.monotonic()
        ready = [k for k, r in self._pending.items() if r.due <= now and k not in self._busy]
        return ready[0] if ready else None

    def _take(self) -> tuple[str, _Request]:
        with self._changed:
            while (key := self._due()) is None:
                # A session in flight wakes this when it is done (notify), others when due.
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
                request.context.run(publish_session_artifacts, request.files)
            except Exception as error:  # the API: the next request tries again
                log.warning("artifacts of %s not published: %s", request.files.name, error)
            finally:
                with self._changed:
                    self._busy.discard(key)
                    self._changed.notify_all()


_PUBLISHER = _Publisher()


def publish_behind(files: SessionFiles) -> None:
    """Ask for the session's cards to be brought up to date, without waiting for it."""
    _PUBLISHER.submit(files)


def publish_and_settle(files: SessionFiles) -> None:
    """Bring the cards up to date at once and wait until they are (the end of a run)."""
    _PUBLISHER.submit(files, now=True)
    _PUBLISHER.settle(files)
