"""Taking down what `samoflow up` started, with everything that runs under it.

A worker's flow-run processes (the session orchestrators) and their agents are not in the
worker's process group: stopping the worker alone left them running, renewing leases and
writing into sessions. So: snapshot each worker's process tree (pid + start time), SIGTERM
the orchestrators first (each kills its agent's group, releases its lease and records the
stop, see `health.stop`), then the worker, then SIGKILL whatever of the snapshot is left.
The sessions whose orchestrators were stopped are named: they resume with `samoflow run`.
"""

from __future__ import annotations

import contextlib
import signal
import time
from dataclasses import dataclass, field

import psutil

from samoflow.serve.local import Started, stop

ORCHESTRATOR_GRACE_SECONDS = 15.0


@dataclass
class Tree:
    """A worker and what ran under it when we looked: (pid, start time) of each process."""

    worker: Started
    children: list[tuple[int, float]] = field(default_factory=list)  # flow-run processes
    below: list[tuple[int, float]] = field(default_factory=list)  # everything deeper


def _same(pid: int, started: float) -> psutil.Process | None:
    try:
        process = psutil.Process(pid)
        return process if abs(process.create_time() - started) < 0.01 else None
    except psutil.NoSuchProcess:
        return None


def alive(process: Started) -> bool:
    return _same(process.pid, process.started) is not None


def snapshot(worker: Started) -> Tree:
    tree = Tree(worker=worker)
    root = _same(worker.pid, worker.started)
    if root is None:
        return tree
    with contextlib.suppress(psutil.Error):
        direct = {child.pid for child in root.children()}
        for process in root.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                entry = (process.pid, process.create_time())
                (tree.children if process.pid in direct else tree.below).append(entry)
    return tree


def pids(trees: list[Tree]) -> set[int]:
    """Every process under the workers (a lease naming one is a stopped orchestrator's)."""
    return {pid for tree in trees for pid, _ in [*tree.children, *tree.below]}


def _signal_all(entries: list[tuple[int, float]], sig: int) -> list[psutil.Process]:
    hit = []
    for pid, started in entries:
        process = _same(pid, started)
        if process is not None:
            with contextlib.suppress(psutil.Error):
                process.send_signal(sig)
                hit.append(process)
    return hit


def _wait_gone(processes: list[psutil.Process], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    for process in processes:
        with contextlib.suppress(psutil.Error):
            process.wait(timeout=max(0.1, deadline - time.monotonic()))


def take_down(tree: Tree) -> bool:
    """Orchestrators (SIGTERM, then a grace), the worker, then anything left (SIGKILL)."""
    _wait_gone(_signal_all(tree.children, signal.SIGTERM), ORCHESTRATOR_GRACE_SECONDS)
    stopped = stop(tree.worker)
    _wait_gone(_signal_all([*tree.children, *tree.below], signal.SIGKILL), 5.0)
    return stopped


def leftovers(trees: list[Tree]) -> list[int]:
    """Processes of the snapshots still running (a zombie counts as gone)."""
    left = []
    for tree in trees:
        for pid, started in [(tree.worker.pid, tree.worker.started), *tree.children, *tree.below]:
            process = _same(pid, started)
            with contextlib.suppress(psutil.Error):
                if process is not None and process.status() != psutil.STATUS_ZOMBIE:
                    left.append(pid)
    return left
