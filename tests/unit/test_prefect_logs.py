"""Prefect's log lines go to the file, not the terminal, through a command's exit too."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = """
import atexit, logging, sys
from pathlib import Path
from prefect.logging.configuration import setup_logging
from samoflow.cli.output import prefect_logs_to

setup_logging()  # as a run does: Prefect's console handlers on its loggers

log = Path(sys.argv[1])
with prefect_logs_to(log, until_exit={until_exit}):
    logging.getLogger("prefect.events").warning("inside the run")
logging.getLogger("prefect.events").warning("after the run")
# What Prefect's EventsWorker does as it drains at exit:
atexit.register(lambda: logging.getLogger("prefect.events").warning("draining at exit"))
"""


def _run(tmp_path: Path, until_exit: bool) -> tuple[str, str]:
    log = tmp_path / f"orchestrator-{until_exit}.log"
    shown = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(until_exit=until_exit), str(log)],
        capture_output=True, text=True, timeout=120, check=True,
    )
    return shown.stdout + shown.stderr, log.read_text(encoding="utf-8")


def test_until_exit_keeps_every_prefect_line_in_the_file(tmp_path: Path) -> None:
    terminal, file = _run(tmp_path, until_exit=True)
    assert terminal == ""
    assert all(line in file for line in ("inside the run", "after the run", "draining at exit"))


def test_without_it_the_console_gets_prefect_back_after_the_block(tmp_path: Path) -> None:
    terminal, file = _run(tmp_path, until_exit=False)
    assert "inside the run" in file and "inside the run" not in terminal
    assert "after the run" in terminal and "draining at exit" in terminal
