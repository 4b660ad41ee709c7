"""The in-process watch of one agent attempt: heartbeats out, and the stall ladder.

A daemon thread, started around the attempt. It folds agent output and file changes into
a progress tracker, announces progress at most once per interval (the announcer is
injected: Prefect events in `tasks/heartbeat.py`), carries out the steps the stall handler
requests in `_control.json`, and climbs the ladder itself when nobody else does. Where a
served stall automation exists it waits `grace_seconds` longer than the automation would,
so it is the deterministic last line when the Prefect API or its services are down; where
none exists (embedded mode) it acts at the threshold. It never needs the API to act.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType

from samoflow.agents.process import kill_process_group
from samoflow.clock import utcnow
from samoflow.health.progress import (
    Beat,
    ChangeScanner,
    ProgressRecord,
    ProgressTracker,
    write_progress,
)
from samoflow.health.stall import (
    Sighting,
    StallAction,
    StallStep,
    Thresholds,
    block_reason,
    forget_block,
    leave_handoff_note,
    nudge_message,
    take_control,
    take_step,
    write_nudge,
)
from samoflow.notices.notice import Notice, NoticeKind, session_notice
from samoflow.session.files import SessionFiles
from samoflow.session.hold import stop_requested
from samoflow.session.journal import process_alive, read_journal
from samoflow.settings import Settings

WATCHDOG = "watchdog"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AttemptPlace:
    """Which attempt is watched, and where its agent works."""

    iteration: int
    attempt: int
    phase: str
    working_dir: Path


@dataclass(frozen=True)
class WatchHooks:
    """What the watch needs from outside: a way to announce progress and to tell humans."""

    announce: Callable[[Beat], None]
    tell_humans: Callable[[Notice], None]


def stall_notice(files: SessionFiles, step: StallStep, phase: str) -> Notice:
    return session_notice(
        files,
        NoticeKind.STALLED,
        step.reason,
        phase=phase,
        iteration=step.iteration,
        next_step=(
            f"nothing yet: samoflow hands off, restarts, then blocks; to steer the agent, "
            f'`samoflow send {files.name} "..."`'
        ),
    )


class AttemptWatch:
    """`with AttemptWatch(...) as watch:` around an attempt; `watch.saw_output` per line."""

    def __init__(
        self,
        files: SessionFiles,
        place: AttemptPlace,
        settings: Settings,
        hooks: WatchHooks,
        *,
        grace_seconds: float,
        clock: Callable[[], datetime] = utcnow,
    ):
        self.files, self.place, self.hooks, self._clock = files, place, hooks, clock
        self.tracker = ProgressTracker(settings.heartbeat_interval_seconds, clock)
        roots = {"session folder": files.root, "working tree": place.working_dir}
        self._scanner = ChangeScanner(roots, settings.progress_scan_max_entries)
        self._scan_every = settings.heartbeat_interval_seconds
        self._poll = min(settings.watchdog_poll_seconds, settings.heartbeat_interval_seconds)
        self._thresholds = Thresholds(
            settings.stall_seconds + grace_seconds, settings.stall_escalate_seconds + grace_seconds
        )
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def saw_output(self, line: str) -> None:
        self.tracker.saw("agent output")

    def __enter__(self) -> AttemptWatch:
        forget_block(self.files, self.place.iteration)  # running again: a human resumed it
        self.tracker.saw(f"attempt {self.place.attempt} started")
        # The caller's context (Prefect's run and settings) goes along to the thread.
        context = contextvars.copy_context()
        self._thread = threading.Thread(
            target=context.run, args=(self._run,), name=f"watch-{self.files.name}", daemon=True
        )
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    @property
    def stalled_reason(self) -> str | None:
        """Set when the ladder blocked during this attempt: the iteration must not retry."""
        return block_reason(self.files, self.place.iteration, self.place.attempt)

    def _run(self) -> None:
        next_scan = 0.0
        while not self._stop.is_set():
            try:
                if time.monotonic() >= next_scan:
                    next_scan = time.monotonic() + self._scan_every
                    if (change := self._scanner.changed()) is not None:
                        self.tracker.saw(change)
                self._tick()
            except Exception:  # one bad tick (a file mid-write, the API down) must not end it
                log.exception("stall watch of %s: tick failed", self.files.name)
            self._stop.wait(self._poll)

    def _tick(self) -> None:
        beat = self.tracker.take_beat()
        if beat is not None:
            self._announce(beat)
        if stop_requested(self.files):  # a human's stop: the agent goes, the flow records it
            self._end_agent()
            return
        requested = take_control(self.files, self.place.iteration, self.place.attempt)
        if requested is not None:
            self.carry_out(requested)
            return
        if self.tracker.idle_seconds() < self._thresholds.stall_seconds:
            return  # the common case: no lock, no file read
        at, what = self.tracker.last
        sighting = Sighting(
            iteration=self.place.iteration,
            attempt=self.place.attempt,
            progress_at=at,
            last_seen=what,
            now=self._clock(),
            by=WATCHDOG,
        )
        step = take_step(self.files, sighting, self._thresholds)
        if step is not None:
            self.carry_out(step)

    def _announce(self, beat: Beat) -> None:
        place = self.place
        record = ProgressRecord(
            at=beat.at, what=beat.what, iteration=place.iteration, attempt=place.attempt
        )
        write_progress(self.files, record)
        self.hooks.announce(beat)

    def carry_out(self, step: StallStep) -> None:
        """A recorded step, done: a nudge for the next turn, or the agent ended."""
        log.warning("stall ladder of %s: %s (%s)", self.files.name, step.action, step.reason)
        if step.action is StallAction.NUDGE:
            write_nudge(self.files, nudge_message(self.files, step))
            self.hooks.tell_humans(stall_notice(self.files, step, self.place.phase))
            return
        if step.action is StallAction.HANDOFF:
            leave_handoff_note(self.files, step)  # before the kill: never lose the hand-over
        self._end_agent()

    def _end_agent(self) -> None:
        """Kill the attempt's process group (the very process: pid and start time)."""
        journal = read_journal(self.files.journal)
        if journal is None or journal.attempt != self.place.attempt:
            return
        if journal.agent_pid is not None and process_alive(
            journal.agent_pid, journal.agent_started
        ):
            kill_process_group(journal.agent_pid)
