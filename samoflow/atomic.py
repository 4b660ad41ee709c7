"""The one place that writes state files: temp file in the same folder, fsync, rename.

`durable=False` skips the fsync (a few ms each on a shared disk) for files samoflow rewrites
before anyone relies on them again (the hook, the prompt log, the watchdog's progress
record): a process crash still never leaves half a file, only an OS crash could, and then
the next attempt writes them anew. State that recovery reads (history, journal, spec,
lease, gate, overview) stays durable.
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
    """Append one line by rewriting the file atomically: a crash never leaves half a line."""
    existing = path.read_bytes() if path.exists() else b""  # bytes: a broken row stays as it was
    if existing and not existing.endswith(b"\n"):
        existing += b"\n"
    atomic_write_bytes(path, existing + line.rstrip("\n").encode("utf-8") + b"\n")


def read_model(path: Path, model: type[ModelT]) -> ModelT | None:
    """The model stored at `path`, or None when there is no file (a broken one raises)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    return model.model_validate_json(text)
