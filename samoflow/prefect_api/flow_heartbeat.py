"""Prefect's own flow-run heartbeat, off for the session flows samoflow runs in its process.

Prefect 3 starts a thread per flow run that emits `prefect.flow-run.heartbeat` (every 180 s
by default) and, when the run ends, joins it; the thread sleeps in 1 s steps, so every run's
end waits up to a second for it (half a second on average, measured: a fixed cost as large
as ten iterations of a fast loop). Nothing in samoflow reads those events: a session's proof
of life is its lease, refreshed every few seconds and read by the monitor, which marks runs
whose orchestrator died `Crashed`. Runs a runner or worker starts keep Prefect's default.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from prefect.context import SettingsContext, get_settings_context


@contextmanager
def without_flow_heartbeat() -> Iterator[None]:
    """Flow runs started inside get no Prefect heartbeat thread (threads copying this
    context, as they must for Prefect, see the same settings).

    A copy of the current settings with that one value changed: `temporary_settings` would
    build them anew from the environment and files (75-170 ms, measured, every run)."""
    current = get_settings_context()
    flows = current.settings.flows.model_copy(update={"heartbeat_frequency": None})
    settings = current.settings.model_copy(update={"flows": flows})
    with SettingsContext(profile=current.profile, settings=settings):
        yield
