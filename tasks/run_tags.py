"""Names and tags the Prefect UI shows a session's flow run with: `session-<name>`, its
convoy, and the tags `role:<role>`, `phase:<phase>`, `convoy:<name>` (for its filters).

The phase changes while the run goes on, so the run's tags are rewritten when it does (one
API call per change).
Tagging never fails a session: a lost tag is a stale filter in the UI, nothing more.
"""

from __future__ import annotations

import logging
from pathlib import Path
from uuid import UUID

import httpx
from prefect.client.orchestration import get_client
from prefect.exceptions import PrefectHTTPStatusError
from prefect.runtime import flow_run

from samoflow.session_files import SessionFiles
from samoflow.session_state import load_state
from samoflow.spec import read_spec

ROLE_PREFIX = "role:"
PHASE_PREFIX = "phase:"
CONVOY_PREFIX = "convoy:"

log = logging.getLogger(__name__)


def session_run_name(files: SessionFiles) -> str:
    """`session-<name>`, and the convoy it belongs to: the UI's list reads as the story."""
    try:
        convoy = read_spec(files.spec).convoy
    except (OSError, ValueError):  # no readable spec yet: the flow itself reports why
        convoy = None
    return f"session-{files.name}" + (f" (convoy {convoy})" if convoy else "")


def session_tags(files: SessionFiles) -> set[str]:
    spec = read_spec(files.spec)
    wanted = {f"{ROLE_PREFIX}{spec.role.value}", f"{PHASE_PREFIX}{load_state(files).phase.value}"}
    if spec.convoy:
        wanted.add(f"{CONVOY_PREFIX}{spec.convoy}")
    return wanted


def tag_session_run(session_dir: str, known: frozenset[str] | None) -> frozenset[str] | None:
    """Bring this run's role and phase tags up to date; returns its tags (None: unknown).

    `known` is what the last call returned, so an unchanged phase costs no API call.
    """
    current_id = flow_run.get_id()
    if current_id is None:
        return known
    run_id = UUID(current_id)
    wanted = session_tags(SessionFiles(Path(session_dir)))
    try:
        with get_client(sync_client=True) as client:
            current = known if known is not None else frozenset(client.read_flow_run(run_id).tags)
            ours = (ROLE_PREFIX, PHASE_PREFIX, CONVOY_PREFIX)
            kept = {t for t in current if not t.startswith(ours)}
            updated = frozenset(kept | wanted)
            if updated != current:
                client.update_flow_run(run_id, tags=sorted(updated))
    except (httpx.HTTPError, PrefectHTTPStatusError) as error:
        log.warning("could not tag flow run %s: %s", run_id, error)
        return None
    return updated
