"""`_signal.json`: the agent's last word of an iteration, parsed with samocode's semantics."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from samoflow.names import validate_slug
from samoflow.session.phases import SignalStatus

MAX_SIGNAL_BYTES = 1_000_000


class WorkerRequest(BaseModel):
    """A worker a coordinator asks for: a session under `<coordinator>/workers/<name>/`."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    name: str
    task: str = Field(min_length=1)
    dive: str | None = None
    scenario: str | None = None  # scripted agents only: the worker's scenario file or name

    @field_validator("name")
    @classmethod
    def _slug(cls, value: str) -> str:
        return validate_slug(value, "worker name")


class Signal(BaseModel):
    """What the agent asks for. `phase` is the phase to run next (samocode convention)."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore")

    status: SignalStatus
    phase: str | None = None
    summary: str | None = None
    reason: str | None = None
    needs: str | None = None
    for_: str | None = Field(default=None, alias="for")

    @field_validator("summary", "reason", "needs", mode="before")
    @classmethod
    def _as_text(cls, value: Any) -> Any:
        """samocode takes any JSON here; keep the content as text rather than refuse it."""
        if value is None or isinstance(value, str):
            return value
        return json.dumps(value, ensure_ascii=False)

    # Free-form state an agent saves when it hands off to a fresh context.
    state: Any = None
    # A coordinator's request for workers, run as a convoy before its next iteration.
    workers: tuple[WorkerRequest, ...] = ()


class SignalReading(BaseModel):
    """The parsed file: a signal, `{}` (empty), or the problem that makes it unusable."""

    model_config = ConfigDict(frozen=True)

    signal: Signal | None = None
    empty: bool = False
    problem: str | None = None
    raw: str | None = None


def read_signal(path: Path) -> SignalReading:
    if not path.exists():
        return SignalReading(problem="signal file not created")
    size = path.stat().st_size
    if size > MAX_SIGNAL_BYTES:
        return SignalReading(
            problem=f"signal file is {size} bytes, over the {MAX_SIGNAL_BYTES} byte limit"
        )
    raw_bytes = path.read_bytes()
    try:
        raw = raw_bytes.decode("utf-8")
    except UnicodeDecodeError:
        return SignalReading(problem="signal file is not UTF-8 text")
    return parse_signal_text(raw)


def parse_signal_text(raw: str) -> SignalReading:
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as error:
        return SignalReading(problem=f"signal file is not valid JSON: {error}", raw=raw[:500])
    if not data:  # samocode: `{}`, `[]`, `null`, `""`, `0` are all "no signal written"
        return SignalReading(empty=True, raw=raw)
    if not isinstance(data, dict):
        return SignalReading(problem="signal file must hold a JSON object", raw=raw[:500])
    status = data.get("status")
    if isinstance(status, str):
        data = {**data, "status": status.strip().lower()}
    if status is None:
        return SignalReading(problem="signal has no status", raw=raw[:500])
    if data["status"] not in {s.value for s in SignalStatus}:
        return SignalReading(problem=f"unknown signal status {status!r}", raw=raw[:500])
    try:
        return SignalReading(signal=Signal.model_validate(data), raw=raw[:2000])
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        return SignalReading(problem=f"signal field {where!r}: {first['msg']}", raw=raw[:500])
