"""When a usage limit resets, read from every format the agent CLIs print.

Absolute times (the moment the account's window opens again):
- stream-json `rate_limit_event.rate_limit_info.resetsAt` (epoch seconds; see `from_event`);
- Claude Code's older `Claude AI usage limit reached|<epoch>`;
- Claude Code's `You've hit your limit · resets 3:30am (Asia/Calcutta)`, with "session" /
  "weekly" variants and an optional date (`resets Dec 4, 3:50am (Asia/Kolkata)`,
  `resets Jul 27 at 4:30am (...)`): the next such wall-clock time in that zone (zoneinfo);
- Codex's `You've hit your usage limit. ... try again at 3:05 PM.` / `... at Jan 1st, 2027
  12:57 AM.`, printed in the machine's local zone; Codex's JSON `resets_at` (epoch).
Relative waits: `retry after 30s` / `retry-after: 30`, Codex's `try again in 5 days 22 hours
11 minutes`, `resets_in_seconds`. Nothing here reads the clock: `now` is a parameter.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MONTHS = {
    month: number
    for number, month in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}
_CLOCK = r"(?P<h>\d{1,2})(?::(?P<m>\d{2}))?\s*(?P<ampm>am|pm)"
# Claude Code: "resets 3:30am (Asia/Calcutta)", "resets Jan 30, 11:30am (...)", "resets 8pm"
CLAUDE_RESETS = re.compile(
    r"resets\s+(?:(?P<mon>[a-z]{3})\s+(?P<day>\d{1,2})(?:,|\s+at)\s+)?"
    + _CLOCK
    + r"(?:\s*\((?P<tz>[a-z_]+(?:/[a-z0-9_+-]+)*)\))?",
    re.IGNORECASE,
)
# Codex: "try again at 12:57 AM." or "try again at Jan 1st, 2027 12:57 AM."
CODEX_AT = re.compile(
    r"try again at\s+"
    r"(?:(?P<mon>[a-z]{3})\s+(?P<day>\d{1,2})(?:st|nd|rd|th)?,\s+(?P<year>\d{4})\s+)?"
    r"(?P<h>\d{1,2}):(?P<m>\d{2})\s*(?P<ampm>am|pm)",
    re.IGNORECASE,
)
# Codex: "try again in 5 days 22 hours 11 minutes"
CODEX_IN = re.compile(
    r"try again in\s+((?:\d+\s+(?:days?|hours?|minutes?|seconds?)[\s,]*(?:and\s+)?)+)", re.I
)
_UNIT = re.compile(r"(\d+)\s+(day|hour|minute|second)", re.IGNORECASE)
UNIT_SECONDS = {"day": 86400, "hour": 3600, "minute": 60, "second": 1}
RETRY_AFTER = re.compile(r"(?:retry[ -]after|try again in)[:\s]*(\d+(?:\.\d+)?)\s*s", re.I)
RESET_EPOCH = re.compile(r"\|(\d{10})\b")
JSON_RESETS_AT = re.compile(r'"resets_at"\s*:\s*(\d{10})')
JSON_RESETS_IN = re.compile(r'"resets_in_seconds"\s*:\s*(\d+)')


def _zone(name: str | None, local: tzinfo) -> tzinfo:
    if not name:
        return local
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return local  # an unknown zone name: the machine's zone is the best guess


def _hour24(hour: int, ampm: str) -> int:
    return hour % 12 + (12 if ampm.lower() == "pm" else 0)


def _at(day: date, hour: int, minute: int, zone: tzinfo) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone).astimezone(UTC)


def next_wall_clock(
    now: datetime, hour: int, minute: int, zone: tzinfo, month: int | None, day: int | None
) -> datetime:
    """The next moment after `now` that reads `[month day] hour:minute` in `zone`."""
    today = now.astimezone(zone).date()
    if month is None or day is None:
        candidate = _at(today, hour, minute, zone)
        return candidate if candidate > now else _at(today + timedelta(days=1), hour, minute, zone)
    candidate = _at(date(today.year, month, day), hour, minute, zone)
    # A date in the (recent) past means next year's: "resets Jan 2" seen on Dec 30.
    return (
        candidate
        if candidate > now - timedelta(days=1)
        else _at(date(today.year + 1, month, day), hour, minute, zone)
    )


def _claude_clock(text: str, now: datetime, local: tzinfo) -> datetime | None:
    match = CLAUDE_RESETS.search(text)
    if match is None or (match["mon"] and match["mon"].lower() not in MONTHS):
        return None
    month = MONTHS[match["mon"].lower()] if match["mon"] else None
    return next_wall_clock(
        now,
        _hour24(int(match["h"]), match["ampm"]),
        int(match["m"] or 0),
        _zone(match["tz"], local),
        month,
        int(match["day"]) if match["day"] else None,
    )


def _codex_clock(text: str, now: datetime, local: tzinfo) -> datetime | None:
    match = CODEX_AT.search(text)
    if match is None or (match["mon"] and match["mon"].lower() not in MONTHS):
        return None
    hour, minute = _hour24(int(match["h"]), match["ampm"]), int(match["m"])
    if match["year"]:
        day = date(int(match["year"]), MONTHS[match["mon"].lower()], int(match["day"]))
        return _at(day, hour, minute, local)
    return next_wall_clock(now, hour, minute, local, None, None)


def _epoch(seconds: str) -> datetime:
    return datetime.fromtimestamp(int(seconds), tz=UTC)


def reset_at(text: str, now: datetime, local: tzinfo | None = None) -> datetime | None:
    """The absolute reset time a limit message names, in UTC; None when it names none."""
    zone = local or now.astimezone().tzinfo or UTC
    if match := RESET_EPOCH.search(text) or JSON_RESETS_AT.search(text):
        return _epoch(match.group(1))
    return _claude_clock(text, now, zone) or _codex_clock(text, now, zone)


def retry_after(text: str) -> float | None:
    """A relative wait the message names (seconds), when it names no absolute time."""
    if match := CODEX_IN.search(text):
        units = _UNIT.findall(match.group(1))
        return float(sum(int(n) * UNIT_SECONDS[u.lower()] for n, u in units))
    if match := RETRY_AFTER.search(text):
        return float(match.group(1))
    if match := JSON_RESETS_IN.search(text):
        return float(match.group(1))
    return None


def from_event(obj: dict[str, Any]) -> tuple[str, datetime | None, str | None] | None:
    """A stream-json `rate_limit_event`: (status, resetsAt, rateLimitType); None otherwise."""
    if obj.get("type") != "rate_limit_event":
        return None
    info = obj.get("rate_limit_info")
    if not isinstance(info, dict):
        return None
    resets = info.get("resetsAt")
    when = _epoch(str(int(resets))) if isinstance(resets, int | float) and resets > 0 else None
    kind = info.get("rateLimitType")
    return str(info.get("status") or ""), when, kind if isinstance(kind, str) else None
