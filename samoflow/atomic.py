"""The one place that writes state files: temp file in the same folder, fsync, rename; a
log's rows (the history) are appended whole, one write each, and synced.

`durable=False` skips the fsync (a few ms each on a shared disk) for files samoflow rewrites
before anyone relies on them again (the hook, the prompt log, the watchdog's progress
record, the overview's status lines, the journal of the iteration in flight): a process
crash still never leaves half a file, only an OS crash could, and then the iteration runs
again (the agent's signal is never synced either). The history row that concludes an
iteration, the spec, the lease and the gate stay durable.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:  # at run time only the models passed in need pydantic: agents import this
    from pydantic import BaseModel

ModelT = TypeVar("ModelT", bound="BaseModel")


def atomic_write_text(path: Path, text: str, *, durable: bool = True) -> None:
    """Replace `path` with `text` so readers see the old or the new content, never half."""
    atomic_write_bytes(path, text.encode("utf-8"), durable=durable)


_TEMP_SUFFIX = ".tmp"


def temp_file_target(name: str) -> str | None:
    """The file an atomic write's temp file (`.<name>.<random>.tmp`) will become, or None
    when `name` is no such temp file: a folder scan can tell our writes in flight apart."""
    if not (name.startswith(".") and name.endswith(_TEMP_SUFFIX)):
        return None
    target, dot, _ = name[1:].removesuffix(_TEMP_SUFFIX).rpartition(".")
    return target if dot and target else None


def atomic_write_bytes(path: Path, data: bytes, *, durable: bool = True) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=_TEMP_SUFFIX, dir=path.parent
    )
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, data: object) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def atomic_write_model(path: Path, model: BaseModel, *, durable: bool = True) -> None:
    atomic_write_text(path, model.model_dump_json(indent=2, by_alias=True) + "\n", durable=durable)


def atomic_append_line(path: Path, line: str) -> None:
    """Append one whole line, synced, in one `write` at the end of the file (O_APPEND).

    Every row is one write, so two processes appending at once both keep theirs (a rewrite
    of the file could drop one), and a row costs the same however long the file is. A last
    line without its newline (a hand edit, an OS crash mid-write) is ended first: the new
    row is never merged into it, and the reader quarantines the broken one (repair.py).
    No rename either: on this machine's ext4 a rename after an fsync waited for its
    journal commit, which put about a millisecond on the next state file written.
    """
    data = line.rstrip("\n").encode("utf-8") + b"\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            data = b"\n" + data
        written = 0
        while written < len(data):  # a regular file takes it whole; a short write goes on
            written += os.write(fd, data[written:])
        _sync_data(fd)
    finally:
        os.close(fd)


def _sync_data(fd: int) -> None:
    """The file's bytes and size on disk (not its times): what a reader after a crash needs."""
    sync = getattr(os, "fdatasync", os.fsync)  # macOS has no fdatasync
    sync(fd)


def model_problem(path: Path, model: type[BaseModel]) -> str | None:
    """Why the file at `path` is not a readable `model`, or None (readable, or none there)."""
    try:
        read_model(path, model)
    except (ValueError, OSError) as error:
        return " ".join(str(error).split())
    return None


def read_model(path: Path, model: type[ModelT]) -> ModelT | None:
    """The model stored at `path`, or None when there is no file (a broken one raises)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    return model.model_validate_json(text)
