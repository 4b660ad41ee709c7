"""Run one agent process in its own process group, stream its output, enforce a timeout.

One thread does it all: the agent's output, its stdin and its exit (a pidfd on Linux) wait in
one selector, and the deadline is the selector's timeout. A reader thread and a timer thread
per attempt cost every iteration two thread starts and the GIL's hand-offs between them."""

from __future__ import annotations

import contextlib
import math
import os
import selectors
import signal
import subprocess
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import psutil
from pydantic import BaseModel, ConfigDict

# Seconds a timed-out agent gets between SIGTERM and SIGKILL.
TERMINATE_GRACE_SECONDS = 3.0
# Seconds the output of an exited agent may still take to reach its end (a child that left
# its group holds the pipe open: it is not waited for longer than this).
DRAIN_SECONDS = 10.0
# Without a pidfd (not Linux) the exit is looked at this often.
EXIT_POLL_SECONDS = 0.05
_CHUNK = 1 << 16


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


def _exit_descriptor(pid: int) -> int | None:
    """A descriptor that turns readable when `pid` exits; None where the OS has none."""
    pidfd_open = getattr(os, "pidfd_open", None)
    if pidfd_open is None:
        return None
    try:
        return int(pidfd_open(pid))
    except OSError:
        return None


class _Lines:
    """Output bytes to the log as they come, and to the tail and `on_line` line by line."""

    def __init__(self, log: BinaryIO, tail: deque[str], on_line: Callable[[str], None]) -> None:
        self._log, self._tail, self._on_line = log, tail, on_line
        self._partial = b""

    def feed(self, chunk: bytes) -> None:
        self._log.write(chunk)
        self._log.flush()
        *complete, self._partial = (self._partial + chunk).split(b"\n")
        for raw in complete:
            self._emit(raw)

    def close(self) -> None:
        if self._partial:
            self._emit(self._partial)
            self._partial = b""

    def _emit(self, raw: bytes) -> None:
        line = raw.decode("utf-8", errors="replace")
        self._tail.append(line)
        self._on_line(line)


class _Attempt:
    """The agent's pipes and exit in one selector, on the calling thread."""

    def __init__(self, process: subprocess.Popen[bytes], lines: _Lines, stdin_text: str | None):
        self.process, self.lines = process, lines
        self.selector = selectors.DefaultSelector()
        assert process.stdout is not None
        os.set_blocking(process.stdout.fileno(), False)
        self.selector.register(process.stdout.fileno(), selectors.EVENT_READ, "output")
        self._stdin = memoryview((stdin_text or "").encode("utf-8"))
        if process.stdin is not None:
            if self._stdin:
                os.set_blocking(process.stdin.fileno(), False)
                self.selector.register(process.stdin.fileno(), selectors.EVENT_WRITE, "input")
            else:
                self._close_stdin()
        self._exit_fd = _exit_descriptor(process.pid)
        if self._exit_fd is not None:
            self.selector.register(self._exit_fd, selectors.EVENT_READ, "exit")
        self.output_open = True

    def wait(self, timeout_seconds: float) -> bool:
        """Until the agent exits, its output read meanwhile; True when its timeout ended it."""
        deadline = time.monotonic() + timeout_seconds
        timed_out, kill_at = False, math.inf
        while not self._exited():
            now = time.monotonic()
            if not timed_out and now >= deadline:
                timed_out, kill_at = True, now + TERMINATE_GRACE_SECONDS
                kill_process_group(self.process.pid, signal.SIGTERM)
            if now >= kill_at:
                kill_at = math.inf
                kill_process_group(self.process.pid, signal.SIGKILL)
            wake = (kill_at if timed_out else deadline) - now
            if self._exit_fd is None:
                wake = min(wake, EXIT_POLL_SECONDS)
            self._serve(None if math.isinf(wake) else max(0.0, wake))
        return timed_out

    def drain(self) -> None:
        """What the agent (and its group, ended by now) wrote last, up to its end."""
        deadline = time.monotonic() + DRAIN_SECONDS
        while self.output_open and (left := deadline - time.monotonic()) > 0:
            self._serve(left)
        self.lines.close()

    def close(self) -> None:
        self._close_stdin()
        self.selector.close()
        if self._exit_fd is not None:
            os.close(self._exit_fd)

    def _exited(self) -> bool:
        return self.process.returncode is not None

    def _serve(self, timeout: float | None) -> None:
        for key, _ in self.selector.select(timeout):
            if key.data == "output":
                self._read(key.fd)
            elif key.data == "input":
                self._write(key.fd)
            else:
                self.process.wait()  # the pidfd is readable: it has exited, reap it now
        if self._exit_fd is None:
            self.process.poll()

    def _read(self, fd: int) -> None:
        try:
            chunk = os.read(fd, _CHUNK)
        except BlockingIOError:
            return
        if chunk:
            self.lines.feed(chunk)
        else:
            self.selector.unregister(fd)
            self.output_open = False

    def _write(self, fd: int) -> None:
        try:
            written = os.write(fd, self._stdin[:_CHUNK])
        except BlockingIOError:
            return
        except OSError:  # the agent closed its stdin (or died): the rest is not wanted
            written = len(self._stdin)
        self._stdin = self._stdin[written:]
        if not self._stdin:
            self._close_stdin()

    def _close_stdin(self) -> None:
        stdin = self.process.stdin
        if stdin is None or stdin.closed:
            return
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(stdin.fileno())
        with contextlib.suppress(OSError):
            stdin.close()


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
        attempt = None
        try:
            # Inside the try: a SIGTERM just after the pid is journalled (what a watcher
            # waits for) must still take the agent down with the orchestrator.
            with contextlib.suppress(psutil.Error):
                on_start(process.pid, psutil.Process(process.pid).create_time())
            attempt = _Attempt(process, _Lines(log, tail, on_line), stdin_text)
            timed_out = attempt.wait(timeout_seconds)
            # Children left behind by the agent would hold the pipe open; they go with it.
            kill_process_group(process.pid)
            attempt.drain()
        except BaseException:  # SIGTERM or Ctrl-C of the orchestrator: no orphan agent
            _terminate(process)
            raise
        finally:
            if attempt is not None:
                attempt.close()
            if process.stdout is not None:
                process.stdout.close()
    text = "\n".join(tail)
    return ProcessOutcome(
        exit_code=process.returncode,
        timed_out=timed_out,
        duration_seconds=round(time.monotonic() - started, 3),
        output_tail=text[-tail_chars:],
    )
