"""Roles from the directory: where a session folder lives says what it is.

`<sessions>/<task>/` is a coordinator, `<sessions>/<task>/workers/<name>/` an implementation
worker. An explicit role wins over the path; a mismatch is returned as a warning, which
`create_session` records in the session history as a SYSTEM entry (visible in the UI table).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict

from samoflow.session.spec import Role

WORKERS_DIR = "workers"


class RoleDecision(BaseModel):
    model_config = ConfigDict(frozen=True)

    role: Role
    from_path: Role | None  # None: the folder is not where sessions live
    explicit: Role | None
    warning: str | None = None


def role_from_path(sessions_root: Path, session_dir: Path) -> Role | None:
    """The role the folder's place implies, or None when it is outside the known layout."""
    try:
        parts = session_dir.resolve().relative_to(sessions_root.resolve()).parts
    except ValueError:
        return None
    if len(parts) == 1:
        return Role.COORDINATOR
    if len(parts) == 3 and parts[1] == WORKERS_DIR:
        return Role.WORKER
    return None


def decide_role(sessions_root: Path, session_dir: Path, explicit: Role | None) -> RoleDecision:
    """The explicit role if given, else the path's; a disagreement is reported, never fatal."""
    from_path = role_from_path(sessions_root, session_dir)
    role = explicit or from_path or Role.COORDINATOR
    warning = None
    if from_path is None:
        warning = (
            f"{session_dir} is neither <sessions>/<task>/ nor <sessions>/<task>/workers/<name>/: "
            f"running as {role}"
        )
    elif explicit is not None and explicit is not from_path:
        warning = (
            f"role mismatch: the path says {from_path}, the explicit setting says {explicit}; "
            f"running as {explicit}"
        )
    return RoleDecision(role=role, from_path=from_path, explicit=explicit, warning=warning)
