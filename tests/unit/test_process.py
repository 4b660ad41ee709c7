"""One agent process on one thread: its output, its stdin, its exit and its timeout."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import psutil
import pytest

from samoflow.agents.process import run_process


def _run(tmp_path: Path, code: str, *, stdin: str | None = None, timeout: float = 30.0,
         on_line=None):  # type: ignore[no-untyped-def]
    lines: list[str] = []
    pids: list[int] = []
    outcome = run_process(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin"},
        stdin_text=stdin,
        log_path=tmp_path / "logs" / "agent.log",
        timeout_seconds=timeout,
        on_line=on_line or lines.append,
        on_start=lambda pid, started: pids.append(pid),
    )
    return outcome, lines, pids


def test_every_line_reaches_the_log_and_the_caller_in_order(tmp_path: Path) -> None:
    code = "import sys\nfor i in range(3000): print(f'line {i}')\nsys.stdout.write('no newline')"
    threads = threading.active_count()
    outcome, lines, pids = _run(tmp_path, code)
    assert outcome.exit_code == 0 and not outcome.timed_out
    assert lines == [f"line {i}" for i in range(3000)] + ["no newline"]
    assert (tmp_path / "logs" / "agent.log").read_text().splitlines()[-1] == "no newline"
    assert outcome.output_tail.endswith("line 2999\nno newline")
    assert len(pids) == 1 and threading.active_count() == threads  # no thread of its own


def test_a_large_stdin_while_the_agent_echoes_it_does_not_deadlock(tmp_path: Path) -> None:
    """More than a pipe holds, both ways at once: written as the agent reads it."""
    text = "".join(f"{i:07d} " + "x" * 90 + "\n" for i in range(20_000))  # ~2 MB
    code = "import sys\nfor line in sys.stdin: sys.stdout.write(line)"
    outcome, lines, _ = _run(tmp_path, code, stdin=text)
    assert outcome.exit_code == 0
    assert len(lines) == 20_000 and lines[-1].startswith("0019999 ")


def test_an_agent_that_ignores_its_stdin_still_ends(tmp_path: Path) -> None:
    outcome, lines, _ = _run(tmp_path, "print('bye')", stdin="y" * 1_000_000)
    assert outcome.exit_code == 0 and lines == ["bye"]


def test_stderr_and_the_exit_code_are_kept(tmp_path: Path) -> None:
    outcome, lines, _ = _run(tmp_path, "import sys\nsys.stderr.write('broken\\n')\nsys.exit(3)")
    assert outcome.exit_code == 3 and lines == ["broken"]


def test_the_timeout_ends_the_agent_and_its_children(tmp_path: Path) -> None:
    code = (
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    outcome, lines, _ = _run(tmp_path, code, timeout=1.0)
    assert outcome.timed_out and outcome.exit_code is not None and outcome.exit_code < 0
    child = int(lines[0])
    assert not psutil.pid_exists(child) or psutil.Process(child).status() == psutil.STATUS_ZOMBIE


def test_an_agent_that_ignores_sigterm_is_killed_after_the_grace(tmp_path: Path) -> None:
    code = (
        "import signal, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )
    outcome, lines, _ = _run(tmp_path, code, timeout=0.5)
    assert outcome.timed_out and outcome.exit_code == -9 and lines == ["ready"]


def test_a_failing_line_handler_takes_the_agent_down(tmp_path: Path) -> None:
    def explode(line: str) -> None:
        raise RuntimeError(f"cannot read {line!r}")

    pids: list[int] = []
    with pytest.raises(RuntimeError, match="cannot read 'first'"):
        run_process(
            [sys.executable, "-c", "import time\nprint('first', flush=True)\ntime.sleep(60)"],
            cwd=tmp_path,
            env={"PATH": "/usr/bin:/bin"},
            stdin_text=None,
            log_path=tmp_path / "agent.log",
            timeout_seconds=60,
            on_line=explode,
            on_start=lambda pid, started: pids.append(pid),
        )
    assert not psutil.pid_exists(pids[0])  # reaped, not an orphan


def test_without_a_pidfd_the_exit_is_polled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the OS has no pidfd (not Linux) the same attempt ends the same way."""
    import samoflow.agents.process as process

    monkeypatch.setattr(process, "_exit_descriptor", lambda pid: None)
    outcome, lines, _ = _run(tmp_path, "import sys\nprint('polled')\nsys.exit(4)")
    assert outcome.exit_code == 4 and lines == ["polled"]
    timed, _, _ = _run(tmp_path, "import time\ntime.sleep(60)", timeout=0.5)
    assert timed.timed_out
