"""Broken session files: unreadable history rows are quarantined, a missing spec or an
unreadable overview is named with its fix. Never "empty", never a crash for the others."""

from __future__ import annotations

import os
from pathlib import Path

from samoflow.atomic import atomic_write_bytes, model_problem
from samoflow.clock import utcnow
from samoflow.session.files import HISTORY, SPEC, SessionFiles
from samoflow.session.handoff import HandoffRecord
from samoflow.session.history import (
    HistoryEntry,
    HistoryError,
    Outcome,
    append_entry,
    iterations,
    parse_history,
    read_history,
    system_entry,
)
from samoflow.session.journal import IterationJournal
from samoflow.session.state import Lifecycle, SessionState, load_state

# Outcomes that decide the lifecycle: a repair's row keeps them, so a done session stays done
# and a stopped one stopped.
KEPT_OUTCOMES = frozenset(
    {Outcome.DONE, Outcome.BLOCKED, Outcome.WAITING, Outcome.STOPPED, Outcome.PAUSED}
)


class SpecMissingError(ValueError):
    """A session folder without `_session.json`: samoflow cannot know its task, repo or agent."""


def spec_missing_message(files: SessionFiles) -> str:
    return (
        f"{files.root} has no {SPEC} (deleted?): its task, repository, worktree and agent are "
        f"unknown, so samoflow will not run it. Fix: restore {files.spec} from a backup, or "
        f"move the folder away (`mv {files.root} {files.root}.old`) and start a new session; "
        f"a folder samocode ran is taken over with `samoflow run --config .samocode --session "
        f"{files.root.name}`"
    )


def require_spec(files: SessionFiles) -> None:
    if not files.spec.is_file():
        raise SpecMissingError(spec_missing_message(files))


def has_old_history(files: SessionFiles) -> bool:
    """A folder someone ran a session in: a history or an overview lies there."""
    return files.history.exists() or files.overview.exists()


def split_unreadable(raw: bytes) -> tuple[list[bytes], list[bytes], str]:
    """(readable lines, unreadable lines, why the first one is unreadable)."""
    lines = raw.split(b"\n")
    bad: set[int] = set()
    why = ""
    for _ in range(len(lines)):
        kept = b"\n".join(line for n, line in enumerate(lines) if n not in bad)
        numbers = [n for n in range(len(lines)) if n not in bad]
        try:
            parse_history(kept, HISTORY)
            break
        except HistoryError as error:
            assert error.line is not None
            bad.add(numbers[error.line - 1])
            why = why or str(error).split("unreadable: ", 1)[-1]
    good = [line for n, line in enumerate(lines) if n not in bad and line.strip()]
    return good, [lines[n] for n in sorted(bad)], why


def quarantine_history(files: SessionFiles) -> HistoryEntry | None:
    """Move unreadable rows to `<history>.quarantine-<time>` and record a system row saying so."""
    raw = files.history.read_bytes() if files.history.exists() else b""
    good, bad, why = split_unreadable(raw)
    if not bad:
        return None
    quarantine = files.history_quarantine(_stamp())
    atomic_write_bytes(quarantine, b"\n".join(bad) + b"\n")  # first: the bad bytes are kept
    entries = parse_history(b"\n".join(good), HISTORY)
    entry = _quarantine_row(entries, len(bad), quarantine.name, why)
    body = b"".join(line + b"\n" for line in good)
    atomic_write_bytes(files.history, body + entry.model_dump_json(by_alias=True).encode() + b"\n")
    return entry


def _quarantine_row(entries: list[HistoryEntry], count: int, where: str, why: str) -> HistoryEntry:
    note = f"quarantined {count} unreadable row(s) of {HISTORY} into {where} ({why})"
    return _note_row(entries, note)


def _note_row(entries: list[HistoryEntry], note: str) -> HistoryEntry:
    """A system row saying what was repaired; it keeps a done, blocked or waiting lifecycle."""
    last = entries[-1] if entries else None
    done = [e.iteration for e in iterations(entries)]
    entry = system_entry(
        max(done, default=0), (last.next_phase or last.phase) if last else "init", summary=note
    )
    if last is not None and last.outcome in KEPT_OUTCOMES:
        update = {"outcome": last.outcome, "reason": last.reason, "needs": last.needs,
                  "for_": last.for_}
        entry = entry.model_copy(update=update)
    return entry


def set_aside_unreadable(files: SessionFiles) -> list[HistoryEntry]:
    """An unreadable `_iteration.json` or `_handoff.json` (a hand edit, a disk error) is
    moved to `<name>.broken-<time>`, bytes kept, and noted in the history. Every reader
    takes such a file for none, so nothing crashes on it: the journal's iteration begins
    again; without its handoff the next agent starts from `_overview.md`."""
    noted = []
    for path, model, then in (
        (files.journal, IterationJournal, "its iteration begins again"),
        (files.handoff, HandoffRecord, "the next agent starts from the overview"),
    ):
        why = model_problem(path, model)
        if why is None:
            continue
        aside = move_aside(path)
        note = f"set aside an unreadable {path.name} as {aside.name} ({why[:300]}); {then}"
        entry = _note_row(read_history(files.history), note)
        append_entry(files.history, entry)
        noted.append(entry)
    return noted


def move_aside(path: Path) -> Path:
    """An unreadable state file to `<name>.broken-<time>`, bytes kept for a human to read."""
    aside = path.with_name(f"{path.name}.broken-{_stamp()}")
    os.replace(path, aside)
    return aside


def _stamp() -> str:
    return utcnow().strftime("%Y%m%dT%H%M%S.%fZ")


def load_state_repaired(files: SessionFiles) -> SessionState:
    """The orchestrator's read: a broken row is quarantined, then the session goes on."""
    try:
        return load_state(files)
    except HistoryError:
        quarantine_history(files)
        return load_state(files)


def overview_problem(files: SessionFiles) -> str | None:
    """Why `_overview.md` cannot be read (a folder in its place, no permission), else None."""
    if not files.overview.exists() and not files.overview.is_symlink():
        return None
    try:
        files.overview.read_bytes()
    except OSError as error:
        return (
            f"{files.overview.name} is unreadable ({error.strerror or error}): replace it with "
            f"a readable file (the agent's story), then `samoflow run --session {files.name}`"
        )
    return None


def block_if_overview_unreadable(files: SessionFiles, state: SessionState) -> HistoryEntry | None:
    """An unreadable overview blocks the session with the reason, recorded once."""
    problem = overview_problem(files)
    if problem is None or state.lifecycle in (Lifecycle.DONE, Lifecycle.BLOCKED):
        return None
    entry = system_entry(
        state.last_iteration, state.phase.value, outcome=Outcome.BLOCKED, reason=problem
    )
    append_entry(files.history, entry)
    return entry


def folders_without_spec(sessions_root: Path) -> list[str]:
    """Session folders that lost their `_session.json` (a history or overview is still there)."""
    if not sessions_root.is_dir():
        return []
    return sorted(
        path.name
        for path in sessions_root.iterdir()
        if path.is_dir() and not path.name.startswith("_")
        and not (path / SPEC).exists() and has_old_history(SessionFiles(path))
    )
