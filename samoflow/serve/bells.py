"""Doorbells: a process on this machine tells the others that the API has news for them.

Asking the API before every attempt whether a message waits or an account changed costs a
request (about 20 ms on the embedded SQLite server, more under load) that nearly always
answers "nothing new". So a sender that writes a message Variable, or an account's status,
rings that session's or account's bell under SAMOFLOW_HOME afterwards, and the loop asks
the API again only when a bell it listens to rang, or when its last answer is older than
`Settings.api_look_seconds` (for writers that do not share this machine's SAMOFLOW_HOME:
another machine, a hand edit in the Prefect UI).

A bell is a hint, never the news: delivery stays exact whatever the bells say. Each ring
writes new random content (file times tick in jiffies: two rings within one could look like
none), and a bell that cannot ring (a read-only home) only delays the news to that bound.
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path

from samoflow.atomic import atomic_write_text
from samoflow.serve.local import default_home

INBOX = "inbox"
ACCOUNT = "account"


def _bell(kind: str, name: str) -> Path:
    # Two names that map to one file only share a bell: an extra look, never a missed one.
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", name)[:200]
    return default_home() / "bells" / f"{kind}-{safe}"


def ring(kind: str, name: str) -> None:
    with contextlib.suppress(OSError):  # the listeners hear of it at their next timed look
        atomic_write_text(_bell(kind, name), os.urandom(8).hex(), durable=False)


def chime(kind: str, name: str) -> str | None:
    """What the bell shows now (None: it never rang); it differs after every ring."""
    try:
        return _bell(kind, name).read_text(encoding="utf-8")
    except OSError:
        return None
