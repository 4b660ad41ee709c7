"""The one clock: every timestamp samoflow writes is timezone-aware UTC from here."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)
