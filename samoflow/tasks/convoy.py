"""Prefect tasks of the convoy flow: worker convoys, merges, artifacts, the one announcement.

Only the convoy flow's main thread calls these, so only it writes `_convoy.json`.
"""

from __future__ import annotations

from pathlib import Path
from typing import cast
from uuid import UUID

from prefect import get_run_logger, task
from prefect.artifacts import (
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.cache_policies import NO_CACHE

from samoflow.convoy.announcement import convoy_payload
from samoflow.convoy.record import (
    CompletionNotice,
    ConvoyError,
    ConvoyRecord,
    read_convoy,
    write_convoy,
)
from samoflow.convoy.rounds import verified_label
from samoflow.convoy.setup import open_worker_convoy, requested_workers
from samoflow.delivery.status import verification_of
from samoflow.names import InvalidNameError
from samoflow.notices.outbox import NoticeOutbox
from samoflow.prefect_api.artifacts_behind import picture_behind, settle_picture
from samoflow.project import ProjectError
from samoflow.session.files import SessionFiles
from samoflow.session.store import SessionError
from samoflow.settings import get_settings
from samoflow.tasks.notify import deliver, deliver_to_channels
from samoflow.workspace.worktrees import RepoError


def progress_key(name: str) -> str:
    return f"convoy-{name}-progress"


def table_key(name: str) -> str:
    return f"convoy-{name}-members"


@task(name="prepare-worker-convoy", cache_policy=NO_CACHE)
def prepare_worker_convoy(files: SessionFiles) -> str | None:
    """The coordinator's requested workers as sessions + a convoy record; None: none asked."""
    requests = requested_workers(files)
    if not requests:
        return None
    try:
        path, record = open_worker_convoy(files, requests, get_settings().convoy_concurrency)
    except (ConvoyError, SessionError, InvalidNameError, RepoError, ProjectError) as error:
        # The coordinator goes on and sees no workers in its prompt: it can ask again.
        get_run_logger().warning("workers of %s not started: %s", files.name, error)
        return None
    get_run_logger().info(
        "%s asked for workers: %s", files.name, ", ".join(m.name for m in record.members)
    )
    return str(path)


def publish_progress(record: ConvoyRecord, artifact_id: UUID | None) -> UUID | None:
    """Members done of total, as a progress artifact updated in place."""
    done, total = record.done_of_total()
    percent = 100.0 * done / total if total else 100.0
    if artifact_id is None:
        created = create_progress_artifact(
            progress=percent,
            key=progress_key(record.name),
            description=f"convoy {record.name}: members done of {total}",
        )
        return cast(UUID, created)  # sync context: never the coroutine of the async variant
    update_progress_artifact(artifact_id=artifact_id, progress=percent)
    return artifact_id


def pictures_key(path: Path) -> str:
    return f"convoy:{path}"


def publish_pictures_behind(path: Path, record: ConvoyRecord, progress: UUID | None) -> None:
    """The progress bar and the members' table for `record`, published behind the convoy's
    loop: members that end together are recorded and merged without waiting for the API
    (two artifact writes each, 0.1-0.3 s on a busy SQLite server, measured), and only the
    newest picture goes. `settle_pictures` waits for it before the final one."""

    def publish() -> None:
        publish_progress(record, progress)
        publish_table(record)

    picture_behind(pictures_key(path), f"convoy {record.name}", publish)


def settle_pictures(path: Path) -> None:
    settle_picture(pictures_key(path))


def publish_table(record: ConvoyRecord) -> None:
    rows = [
        {
            "member": m.name,
            "phase": m.phase,
            "iteration": m.iterations,
            "state": m.state.value,
            "branch": m.branch,
            "cost usd": round(m.cost_usd, 6),
            "duration s": m.duration_seconds,
            "restarts": m.restarts,
            "merge": m.merge.describe() if m.merge else "",
            "verified": verification_of(SessionFiles(Path(m.session_dir))).verified,
            "merge queue": verified_label(m.rounds),
            "merge rounds": len(m.rounds),
            "note": (m.note or "")[:200],
        }
        for m in record.members
    ]
    done, total = record.done_of_total()
    create_table_artifact(
        key=table_key(record.name),
        table=rows,
        description=f"convoy {record.name}: {done}/{total} members finished",
    )


@task(name="announce-convoy", cache_policy=NO_CACHE)
def announce_completion(convoy_file: str) -> ConvoyRecord:
    """ONE message when every member is terminal, exactly once (see samoflow/convoy.py)."""
    path = Path(convoy_file)
    record = read_convoy(path)
    if not record.complete or not record.notify_on_complete:
        return record
    outbox = NoticeOutbox.for_sessions(Path(record.sessions_root))
    if record.notice is None:
        outbox.enqueue(record.notice_key, convoy_payload(record))  # refused if queued before
        stored = outbox.find(record.notice_key)
        assert stored is not None  # just queued, or queued/sent by the run a crash cut off
        notice = CompletionNotice(
            key=record.notice_key,
            message_hash=stored.payload.digest(),
            queued_at=stored.queued_at,
        )
        record = record.model_copy(update={"notice": notice})
        write_convoy(path, record)
    assert record.notice is not None
    # The other channels: each outbox refuses the key once it holds it, so once each too.
    deliver_to_channels(Path(record.sessions_root), record.notice_key, convoy_payload(record))
    if record.notice.sent_at is None:
        deliver(outbox, record.notice_key, None)
        sent = outbox.sent_item(record.notice_key)
        if sent is not None:
            record = record.model_copy(
                update={"notice": record.notice.model_copy(update={"sent_at": sent.sent_at})}
            )
            write_convoy(path, record)
    return record
