"""The Status section of `_overview.md` as text: find and set its `Name: value` lines.

Standard library only: the scripted agent (a process of its own per iteration) updates its
overview with these rules and must start without samoflow's pydantic models.
"""

from __future__ import annotations

import re

STATUS_HEADING = re.compile(r"^##\s+Status\s*$", re.MULTILINE)
NEXT_HEADING = re.compile(r"^##\s+", re.MULTILINE)


def _status_span(text: str) -> tuple[int, int] | None:
    heading = STATUS_HEADING.search(text)
    if heading is None:
        return None
    following = NEXT_HEADING.search(text, heading.end())
    return heading.end(), following.start() if following else len(text)


def _field_pattern(name: str) -> re.Pattern[str]:
    return re.compile(rf"^{re.escape(name)}:[ \t]*(.*?)[ \t]*$", re.MULTILINE)


def find_field(text: str, name: str) -> str | None:
    span = _status_span(text)
    region = text[span[0] : span[1]] if span else text
    match = _field_pattern(name).search(region)
    return match.group(1) if match else None


def set_field(text: str, name: str, value: str, after: str | None = None) -> str:
    """Set `name: value` in the Status section; insert it (after `after`) when missing."""
    span = _status_span(text)
    if span is None and _field_pattern(name).search(text):
        # No Status section: samocode reads the first such line anywhere, so rewrite that one.
        return _field_pattern(name).sub(lambda _m: f"{name}: {value}", text, count=1)
    if span is None:
        sep = "" if text.endswith("\n") or not text else "\n"
        return f"{text}{sep}\n## Status\n{name}: {value}\n"
    start, end = span
    region = text[start:end]
    pattern = _field_pattern(name)
    if pattern.search(region):
        region = pattern.sub(lambda _m: f"{name}: {value}", region, count=1)
    else:
        anchor = _field_pattern(after).search(region) if after else None
        at = anchor.end() if anchor else len(region.rstrip("\n"))
        region = f"{region[:at]}\n{name}: {value}{region[at:]}"
        if not region.endswith("\n"):
            region += "\n"
    return text[:start] + region + text[end:]
