"""Which Prefect API a command talks to: one rule for every command.

1. The server `samoflow up` serves (its `up.json` under SAMOFLOW_HOME), if it answers. If it
   does not, a command that writes refuses: writing into any other server would lose the
   write for the served sessions (a message nobody delivers, an answer to no run).
2. Else `PREFECT_API_URL`, as the user set it.
3. Else the shared local server (`serve/shared.py`), started by the first command that needs
   it; or, with `SAMOFLOW_PREFECT_API=embedded`, Prefect's own temporary server per process.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from samoflow.serve.local import healthy, read_up
from samoflow.serve.shared import ensure_local_server, is_shared_server, register_user
from samoflow.settings import get_settings


class Source(StrEnum):
    SERVED = "served"  # `samoflow up`
    ENV = "env"  # PREFECT_API_URL
    SHARED = "shared"  # the shared local server
    EMBEDDED = "embedded"  # Prefect's temporary server in this process


class Route(BaseModel):
    model_config = ConfigDict(frozen=True)

    source: Source
    api_url: str | None  # None: embedded


class ReachError(RuntimeError):
    """No API a command may write to; the message says why and what to do."""


def choose(
    home: Path,
    environ: Mapping[str, str],
    *,
    writes: bool = True,
    announce: Callable[[str], object] = lambda _: None,
) -> Route:
    """The API this command uses (see the module docstring for the order)."""
    try:
        up = read_up(home)
    except ValueError as error:
        raise ReachError(f"{home / 'up.json'} is unreadable ({error}): `samoflow down`") from error
    if up is not None:
        if healthy(up.api_url):
            return Route(source=Source.SERVED, api_url=up.api_url)
        if writes:
            raise ReachError(
                f"`samoflow up` serves this machine ({up.ui_url}), but its server does not "
                "answer; nothing was written. Start it again with `samoflow up` "
                "(or stop serving with `samoflow down`)."
            )
    url = environ.get("PREFECT_API_URL")
    if url:
        if writes and not healthy(url):
            raise ReachError(f"PREFECT_API_URL={url} does not answer; nothing was written")
        # The shared server's URL in the environment (set by a first call here, or inherited
        # from the command that started this process) is still the shared server.
        shared = _register_if_shared(home, url)
        return Route(source=Source.SHARED if shared else Source.ENV, api_url=url)
    if get_settings().prefect_api == "embedded":
        return Route(source=Source.EMBEDDED, api_url=None)
    return Route(source=Source.SHARED, api_url=ensure_local_server(home, announce))


def _register_if_shared(home: Path, url: str) -> bool:
    """A process a shared-server user started (the monitor's restart) keeps it alive too."""
    if not is_shared_server(home, url):
        return False
    register_user(home)
    return True
