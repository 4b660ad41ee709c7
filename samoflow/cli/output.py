"""What a person sees in the terminal while flows run: samoflow's own lines, not Prefect's logs.

Prefect's console logging goes to a log file next to the session (or convoy) instead; the
Prefect UI still gets every log through the API. `--verbose` leaves Prefect's console alone.
In an interactive terminal the views update in place; in a pipe or CI they print plain lines.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from rich.console import Console
from rich.live import Live
from rich.table import Table

from samoflow.cli.common import console, fit_to_width
from samoflow.convoy.record import (
    ConvoyError,
    ConvoyMember,
    ConvoyRecord,
    MemberState,
    read_convoy,
)
from samoflow.delivery.status import verification_of
from samoflow.session.files import SessionFiles
from samoflow.session.history import HistoryEntry, HistoryError, read_history
from samoflow.session.state import load_state

LOG_FORMAT = "%(asctime)s | %(levelname)-7s | %(name)s - %(message)s"
POLL_SECONDS = 0.5
OUTCOME_COLOURS = {"blocked": "red", "done": "green", "waiting": "yellow"}


def interactive(out: Console = console) -> bool:
    return out.is_terminal and not out.is_dumb_terminal


@contextlib.contextmanager
def prefect_logs_to(log_file: Path | None, *, until_exit: bool = False) -> Iterator[None]:
    """Prefect's console handlers write to `log_file` while the block runs (None: unchanged).

    `until_exit`: and after it, to the end of the process (a command's last run): Prefect's
    workers still log as they drain at exit ("EventsWorker - Still processing items"),
    which would otherwise reach the terminal after the command's own last lines."""
    if log_file is None:
        yield
        return
    from prefect.logging.handlers import PrefectConsoleHandler

    log_file.parent.mkdir(parents=True, exist_ok=True)
    to_file = logging.FileHandler(log_file, encoding="utf-8")
    to_file.setFormatter(logging.Formatter(LOG_FORMAT))
    swapped: list[tuple[logging.Logger, logging.Handler]] = []
    for logger in _all_loggers():
        for handler in list(logger.handlers):
            if isinstance(handler, PrefectConsoleHandler):
                logger.removeHandler(handler)
                logger.addHandler(to_file)
                swapped.append((logger, handler))
    try:
        yield
    finally:
        if not until_exit:  # else logging's own shutdown closes the file at exit
            for logger, handler in swapped:
                logger.removeHandler(to_file)
                logger.addHandler(handler)
            to_file.close()


def _all_loggers() -> list[logging.Logger]:
    named = logging.Logger.manager.loggerDict.values()
    return [logging.getLogger(), *(log for log in named if isinstance(log, logging.Logger))]


def iteration_line(entry: HistoryEntry) -> str:
    """One line per recorded iteration: where it was, what came of it, what it took."""
    colour = OUTCOME_COLOURS.get(entry.outcome.value, "cyan")
    note = shorten(entry.reason or entry.summary or "", 70)
    cost = f"${entry.usage.cost_usd:.4f}" if entry.usage.cost_usd else ""
    took = f"{entry.duration_seconds:.1f} s" if entry.duration_seconds else ""
    return (
        f"  #{entry.iteration:<3} {entry.phase:<15} [{colour}]{entry.outcome.value:<9}[/] "
        f"{took:>8} {cost:>9}  {note}"
    )


def shorten(text: str, width: int) -> str:
    """`text` on one line, cut with an ellipsis when longer than `width`."""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def follow_session(files: SessionFiles, stop: threading.Event) -> None:
    """Print each iteration as it lands (the flow blocks the main thread meanwhile)."""
    shown = 0
    while not stop.wait(POLL_SECONDS):
        shown = _print_new_entries(files, shown)
    _print_new_entries(files, shown)


def _print_new_entries(files: SessionFiles, shown: int) -> int:
    try:
        entries = read_history(files.history)
    except (HistoryError, OSError, ValueError):
        return shown  # mid-write or broken: the orchestrator reports it
    for entry in entries[shown:]:
        console.print(iteration_line(entry), highlight=False, soft_wrap=True)
    return len(entries)


# In a narrow terminal: what goes first (the member, its state and the note always stay).
MEMBER_DROP_FIRST = ("cost $", "iteration", "iterations", "merge queue", "phase", "verified",
                     "merge")


def member_table(record: ConvoyRecord) -> Table:
    table = Table("member", "state", "phase", "iteration", "cost $", "merge", "verified", "note")
    for member in record.members:
        table.add_row(*_member_cells(member))
    return table


def _verified(member: ConvoyMember) -> str:
    try:
        return verification_of(SessionFiles(Path(member.session_dir))).verified
    except (HistoryError, OSError, ValueError):
        return "?"  # mid-write or broken: the session's own report says why


# A running member's (history identity, (phase, iterations, cost)): read again on a change.
_PROGRESS: dict[str, tuple[tuple[int, int], tuple[str, int, float]]] = {}


def _progress(member: ConvoyMember) -> tuple[str, int, float]:
    """Phase, iterations and cost: the convoy's record has them once a member ends; while it
    runs they come from its own history (parsed again only when that file changed)."""
    recorded = (member.phase, member.iterations, member.cost_usd)
    if member.state is not MemberState.RUNNING:
        return recorded
    files = SessionFiles(Path(member.session_dir))
    try:
        info = files.history.stat()
        identity = (info.st_mtime_ns, info.st_size)
        known = _PROGRESS.get(member.session_dir)
        if known is not None and known[0] == identity:
            return known[1]
        state = load_state(files)
    except (HistoryError, OSError, ValueError):
        return recorded  # not started yet, or mid-write: the record's figures until then
    live = (state.phase.value, state.last_iteration, state.usage.cost_usd)
    _PROGRESS[member.session_dir] = (identity, live)
    return live


def _member_cells(member: ConvoyMember) -> tuple[str, ...]:
    merge = member.merge.describe() if member.merge else "-"
    phase, iterations, cost = _progress(member)
    return (
        member.name,
        member.state.value,
        phase,
        str(iterations),
        f"{cost:.4f}",
        merge,
        _verified(member),
        shorten(member.note or "", 40),
    )


def follow_convoy(path: Path, stop: threading.Event) -> None:
    """A live table of the members (in place), or a line per member change (plain)."""
    if interactive():
        _live_convoy(path, stop)
    else:
        _plain_convoy(path, stop)


def _read(path: Path) -> ConvoyRecord | None:
    try:
        return read_convoy(path)
    except ConvoyError:
        return None  # not written yet, or mid-write


def _live_convoy(path: Path, stop: threading.Event) -> None:
    def fitted(record: ConvoyRecord) -> Table:
        return fit_to_width(member_table(record), console.width, MEMBER_DROP_FIRST)[0]

    record = _read(path)
    with Live(fitted(record) if record else "", console=console, transient=True) as live:
        while not stop.wait(POLL_SECONDS):
            record = _read(path)
            if record is not None:
                live.update(fitted(record))


def _plain_convoy(path: Path, stop: threading.Event) -> None:
    seen: dict[str, tuple[str, ...]] = {}

    def show() -> None:
        record = _read(path)
        for member in record.members if record else ():
            cells = _member_cells(member)
            shown = cells[1:3] + cells[5:7]  # state, phase, merge, verified
            if seen.get(member.name) != shown:
                seen[member.name] = shown
                console.print(f"  {member.name:<24} {' · '.join(shown)}")

    while not stop.wait(POLL_SECONDS):
        show()
    show()


def while_following(
    follower: Callable[[threading.Event], None], work: Callable[[], object]
) -> object:
    """Run `work` in this thread while `follower` shows progress on another."""
    stop = threading.Event()
    thread = threading.Thread(target=follower, args=(stop,), daemon=True)
    thread.start()
    try:
        return work()
    finally:
        stop.set()
        thread.join()
