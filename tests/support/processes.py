"""Processes a test started, found by the samoflow home in their environment."""

from __future__ import annotations

from pathlib import Path

import psutil


def ours(home: Path) -> list[psutil.Process]:
    """Every live process started for this samoflow home (agents inherit it too)."""
    found = []
    for process in psutil.process_iter():
        try:
            mine = process.environ().get("SAMOFLOW_HOME") == str(home)
            if mine and process.status() != psutil.STATUS_ZOMBIE:
                found.append(process)
        except psutil.Error:
            continue
    return found
