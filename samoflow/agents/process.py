"""Run one agent process in its own process group, stream its output, enforce a timeout."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import psutil
from pydantic import BaseModel, ConfigDict

# Seconds a timed-out agent gets between SIGTERM and SIGKILL.
TERMINATE_GRACE_SECONDS = 3.0


class ProcessOutcome(BaseModel):
    model_config = ConfigDict(frozen=True)

    exit_code: int | None
    timed_out: bool
    duration_seconds: float
    output_tail: str


def kill_process_group(pgid: int, sig: int = signal.SIGKILL) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _terminate(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the whole group, then SIGKILL what is left after a grace period."""
    kill_process_group(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=TERMINATE_GRACE_SECONDS)
    kill_process_group(process.pid, signal.SIGKILL)
    process.wait()


class _Deadline:
    """Ends the agent's group at its timeout from a timer thread, so the caller can wait
    for the exit in a blocking `waitpid`: `Popen.wait(timeout=...)` polls with sleeps of up
    to 50 ms, and every iteration would pay up to that after the agent is gone."""

    def __init__(self, process: subprocess.Popen[bytes], timeout_seconds: float) -> None:
        self._pid = process.pid
        self.expired = threading.Event()
        self._exited = threading.Event()
        self._timer = threading.Timer(timeout_seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> _Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._exited.set()
        self._timer.cancel()

    def _expire(self) -> None:
        self.expired.set()
        kill_process_group(self._pid, signal.SIGTERM)
        if not self._exited.wait(TERMINATE_GRACE_SECONDS):
            kill_process_group(self._pid, signal.SIGKILL)


def _start_reader(
    process: subprocess.Popen[bytes],
    log: BinaryIO,
    tail: deque[str],
    on_line: Callable[[str], None],
) -> threading.Thread:
    """Every output line into the log, the tail and `on_line`, on a thread of its own."""

    def pump() -> None:
        assert process.stdout is not None
        for raw in iter(process.stdout.readline, b""):
            log.write(raw)
            log.flush()
            line = raw.decode("utf-8", errors="replace").rstrip("\n")
            tail.append(line)
            on_line(line)

    reader = threading.Thread(target=pump, name=f"agent-output-{process.pid}", daemon=True)
    reader.start()
    return reader


def _feed_stdin(process: subprocess.Popen[bytes], stdin_text: str | None) -> None:
    if stdin_text is None or process.stdin is None:
        return
    with contextlib.suppress(BrokenPipeError):
        process.stdin.write(stdin_text.encode("utf-8"))
    with contextlib.suppress(BrokenPipeError):
        process.stdin.close()


def _wait_or_terminate(process: subprocess.Popen[bytes], timeout_seconds: float) -> bool:
    """True when the process had to be ended at its timeout."""
    with _Deadline(process, timeout_seconds) as deadline:
        process.wait()  # returns the moment the agent exits (or the deadline ended it)
    return deadline.expired.is_set()


def run_process(
    argv: list[str],
    *,
    cwd: Path,
    env: dict[str, str],
    stdin_text: str | None,
    log_path: Path,
    timeout_seconds: float,
    on_line: Callable[[str], None],
    on_start: Callable[[int, float], None] = lambda pid, started: None,
    tail_chars: int = 2000,
) -> ProcessOutcome:
    """Run `argv` to the end or the timeout; every output line goes to the log and `on_line`."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    tail: deque[str] = deque(maxlen=200)
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE if stdin_text is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group: a timeout kills the agent's children too
        )
        try:
            # Inside the try: a SIGTERM just after the pid is journalled (what a watcher
            # waits for) must still take the agent down with the orchestrator.
            with contextlib.suppress(psutil.Error):
                on_start(process.pid, psutil.Process(process.pid).create_time())
            reader = _start_reader(process, log, tail, on_line)
            _feed_stdin(process, stdin_text)
            timed_out = _wait_or_terminate(process, timeout_seconds)
        except BaseException:  # SIGTERM or Ctrl-C of the orchestrator: no orphan agent
            _terminate(process)
            raise
        # Children left behind by the agent would hold the pipe open; they go with it.
        kill_process_group(process.pid)
        reader.join(timeout=10)
    text = "\n".join(tail)
    return ProcessOutcome(
        exit_code=process.returncode,
        timed_out=timed_out,
        duration_seconds=round(time.monotonic() - started, 3),
        output_tail=text[-tail_chars:],
    )
