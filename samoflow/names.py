"""Names of sessions, convoys and workers: plain ASCII slugs, never paths."""

from __future__ import annotations

import re
import unicodedata

SLUG_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
MAX_SLUG_LENGTH = 64


class InvalidNameError(ValueError):
    """A name that could escape the sessions folder or confuse a human reading it."""


def validate_slug(name: str, what: str = "session name") -> str:
    """Return `name` if it is a slug; otherwise explain what is wrong with it."""
    if not name:
        raise InvalidNameError(f"{what} is empty")
    if "/" in name or "\\" in name or name.startswith(".") or ".." in name:
        raise InvalidNameError(f"{what} {name!r} looks like a path; use letters, digits and '-'")
    if not name.isascii():
        raise InvalidNameError(
            f"{what} {name!r} has non-ASCII characters (look-alike letters are refused)"
        )
    if not SLUG_PATTERN.match(name):
        raise InvalidNameError(
            f"{what} {name!r} is not a slug: lowercase letters, digits and '-', "
            f"1-{MAX_SLUG_LENGTH} characters, starting and ending with a letter or digit"
        )
    return name


def slugify(text: str, max_length: int = 40) -> str:
    """Derive a slug from free text (a task description); empty text gives 'session'."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    slug = slug[:max_length].rstrip("-")
    return slug or "session"
