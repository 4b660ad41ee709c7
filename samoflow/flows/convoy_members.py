"""How a convoy runs its members: one blocking call per member, on the convoy's threads.

- `SubflowMembers`: the session flow as a subflow in the convoy's own process (one machine,
  no server needed: `make demo`, an unserved `samoflow convoy`).
- `DeploymentMembers`: one run of the session deployment per member, linked to the convoy
  run as its subflow. Any worker of the pool picks it up, so one convoy spreads over every
  worker. The member's session folder must be reachable from those workers (one machine,
  or a shared filesystem): the convoy prepared it there and reads the member's state back
  from it, as it does for a subflow.

`run` returns, with how many crashed runs it started again, when the member's flow run has
ended, and raises `MemberRunFailed` when that run did not complete (the session flow failed
after its retries, was cancelled, or crashed more often than `session_flow_retries`).
A crashed deployment run (its process died: the files keep the session) is started again
by the convoy, which is the one waiting for it. If another orchestrator holds the session
meanwhile (the monitor's restart: its run then fails on the lease), the convoy waits for
that one to finish and reads the outcome from the files.

A member the merge queue sends back for a fix-up is run again the same way, with the next
run number: a new deployment run (its key has that number), which any worker picks up; the
`merge_fixup` message waits in Prefect for that run's first inbox delivery, and the reopened
session resumes from its files in `testing`.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol
from uuid import UUID

import httpx
from prefect import get_run_logger
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import FlowRun
from prefect.deployments import run_deployment
from prefect.exceptions import ObjectNotFound, PrefectHTTPStatusError
from prefect.runtime import deployment
from prefect.settings import PREFECT_API_URL

from samoflow.convoy.record import ConvoyError, ConvoyMember, ConvoyRecord
from samoflow.flows.session import session_flow
from samoflow.health.lease import running_elsewhere
from samoflow.prefect_api.artifacts_behind import settled_by_caller
from samoflow.prefect_api.flow_heartbeat import without_flow_heartbeat
from samoflow.prefect_api.run_names import session_run_tags
from samoflow.serve.local import default_home, read_up
from samoflow.session.files import SessionFiles
from samoflow.session.state import Lifecycle, report_of
from samoflow.settings import Settings, get_settings


class MemberRunFailed(RuntimeError):
    """The member's flow run ended without completing; the message names its final state."""


class MemberRunner(Protocol):
    # True: a member left `running` by a convoy run that died is still running somewhere
    # (a deployment run outlives the convoy's process) and is waited for, not started again.
    reattaches: bool

    def run(self, member: ConvoyMember) -> int: ...


def member_run_key(record: ConvoyRecord, member: ConvoyMember, restart: int = 0) -> str:
    """One deployment run per member, convoy attempt and crash restart: a restarted convoy
    finds each again in order (a crashed one ends at once and leads to the next)."""
    key = f"samoflow-convoy-{record.id}-{member.name}-{member.runs}"
    return f"{key}.{restart}" if restart else key


def member_runner(record: ConvoyRecord, wave: int) -> MemberRunner:
    """Deployment runs when served (see `Settings.convoy_dispatch`), subflows otherwise."""
    settings = get_settings()
    subflows = SubflowMembers(
        wave=wave, spacing=settings.convoy_start_spacing_seconds, hold_wave=not api_on_postgres()
    )
    if settings.convoy_dispatch == "subflow":
        return subflows
    if settings.convoy_dispatch == "auto" and deployment.get_id() is None:
        return subflows  # the convoy runs in a terminal: its members run beside it
    if deployment_exists(settings.convoy_member_deployment):
        return DeploymentMembers(record, settings)
    message = (
        f"the deployment {settings.convoy_member_deployment!r} does not exist: deploy "
        "prefect.yaml (`samoflow up` or `prefect deploy --all`)"
    )
    if settings.convoy_dispatch == "deployment":
        raise ConvoyError(f"{message}, or set SAMOFLOW_CONVOY_DISPATCH=subflow")
    get_run_logger().warning("%s; members run in this process instead", message)
    return subflows


def deployment_exists(name: str) -> bool:
    with get_client(sync_client=True) as client:
        try:
            client.read_deployment_by_name(name)
        except ObjectNotFound:
            return False
    return True


class DeploymentMembers:
    """Each member a run of the session deployment; this thread waits for its end."""

    reattaches = True

    def __init__(self, record: ConvoyRecord, settings: Settings) -> None:
        self._record = record
        self._settings = settings
        # run_deployment numbers the convoy's placeholder task runs from the shared flow
        # context: creating two at once could give both the same number (the same task run).
        self._creating = threading.Lock()

    def run(self, member: ConvoyMember) -> int:
        files = SessionFiles(Path(member.session_dir))
        restart = 0
        while True:
            ended = self._wait(self._dispatch(member, restart), member.name)
            if ended.state is not None and ended.state.is_completed():
                return restart
            crashed = ended.state is not None and ended.state.is_crashed()
            if crashed and restart < self._settings.session_flow_retries and _active(files):
                # Keyed by its number: a convoy that died after starting it finds it again.
                restart += 1
                get_run_logger().warning(
                    "member %s: run %s crashed (%s); starting it again (%d of %d)",
                    member.name,
                    ended.name,
                    _describe(ended),
                    restart,
                    self._settings.session_flow_retries,
                )
                continue
            self._wait_while_running_elsewhere(files)  # the monitor's restart, say
            if not _active(files):
                return restart  # it ended anyway: its files say how, the convoy reads them
            raise MemberRunFailed(f"flow run {ended.name} ended {_describe(ended)}")

    def _dispatch(self, member: ConvoyMember, restart: int) -> UUID:
        with self._creating:
            created = run_deployment(
                self._settings.convoy_member_deployment,
                parameters={"session_dir": member.session_dir},
                flow_run_name=f"session-{member.name} (convoy {self._record.name})",
                tags=session_run_tags(SessionFiles(Path(member.session_dir))),
                idempotency_key=member_run_key(self._record, member, restart),
                timeout=0,  # created (or found again by its key); waited for below
                as_subflow=True,
            )
        assert isinstance(created, FlowRun)  # a sync caller gets the sync variant's value
        return created.id

    def _wait_while_running_elsewhere(self, files: SessionFiles) -> None:
        while running_elsewhere(files, self._settings):
            time.sleep(self._settings.convoy_poll_seconds)

    def _wait(self, run_id: UUID, name: str) -> FlowRun:
        """Until the run is final; a human gate (paused) or a queued run is waited for too."""
        with get_client(sync_client=True) as client:
            while True:
                try:
                    run = client.read_flow_run(run_id)
                except (httpx.HTTPError, PrefectHTTPStatusError) as error:
                    # The member runs on regardless: losing sight of it is not its failure.
                    get_run_logger().warning("member %s: cannot read its run: %s", name, error)
                else:
                    if run.state is not None and run.state.is_final():
                        return run
                time.sleep(self._settings.convoy_poll_seconds)


class SubflowMembers:
    """Session flow subflows in this process, started one at a time, the first wave spaced.

    Measured on `prefect server start` (SQLite): creating a flow run while other runs write
    fails with "database is locked", answered 503 and retried by the client after 2, 4,
    8 s...; one member of eight started 30 s late. So runs are created one by one, and on
    SQLite the first wave (as many as run at once) holds its work until the wave has
    started, then starts it `convoy_start_spacing_seconds` apart: eight agents starting in
    the same instant on two cores made every iteration of the wave about 1 s slower.
    On PostgreSQL (`hold_wave=False`: `samoflow up`'s server) creating runs while others
    write costs nothing extra, so a member starts at its place in the spacing counted from
    the first member's start, as soon as it was created: 12 members' last first agent 3.2-3.4 s
    into the run instead of 5.0-6.0 s (benchmarks/convoy_efficiency.py on PostgreSQL:
    73-74 % of ideal instead of 64-68 %). Released this way on SQLite, creations and the
    first members' writes locked each other out: 14-48 %.
    """

    reattaches = False  # the subflows of a convoy process that died died with it

    def __init__(
        self, wave: int, spacing: float, hold_wave: bool = True, hold_seconds: float = 60.0
    ) -> None:
        self._spacing = spacing
        self._creating = threading.Lock()
        self._counting = threading.Lock()
        self._started = 0
        self._wave = wave
        self._wave_started = threading.Event()
        self._hold_wave = hold_wave
        self._hold_seconds = hold_seconds
        self._first_start: float | None = None

    def _count(self) -> int:
        with self._counting:
            place = self._started
            self._started += 1
            if self._first_start is None:
                self._first_start = time.monotonic()
            if self._started >= self._wave:
                self._wave_started.set()
        self._creating.release()
        return place

    def _wait_for_turn(self, place: int) -> None:
        """Agents that start together compete: the first wave's members start spaced."""
        if place >= self._wave:
            return
        if self._hold_wave:
            if self._wave_started.wait(self._hold_seconds):
                time.sleep(place * self._spacing)
            return
        assert self._first_start is not None  # set by the first `_count`
        time.sleep(turn_delay(place, self._spacing, self._first_start, time.monotonic()))

    def run(self, member: ConvoyMember) -> int:
        self._creating.acquire()
        opened = threading.Event()

        def on_running(*_: object) -> None:  # also after a flow retry: the event guards
            if not opened.is_set():
                opened.set()
                self._wait_for_turn(self._count())

        hook: Any = on_running  # a state hook: (flow, flow_run, state) -> None
        try:
            hooks = [*session_flow.on_running_hooks, hook]  # keep any hook the flow has
            # The member's lease is its proof of life: no heartbeat thread to join at its end.
            # Its final cards go out behind it: the convoy settles them all at its end.
            with without_flow_heartbeat(), settled_by_caller():
                session_flow.with_options(on_running=hooks)(member.session_dir)  # untagged:
                # see tasks/run_tags.py for what tags on in-process runs cost
            return 0  # a crash here is this process's: the flow's retries or the monitor's
        finally:
            if not opened.is_set():  # failed before it ran: let the others go on
                opened.set()
                self._count()


def turn_delay(place: int, spacing: float, first_start: float, now: float) -> float:
    """How long the member at `place` of the wave still waits: its turn is `place` spacings
    after the first member's start (none left when its creation took longer than that)."""
    return max(0.0, first_start + place * spacing - now)


def api_on_postgres() -> bool:
    """This process talks to `samoflow up`'s server, which runs on PostgreSQL (its
    `up.json` names the database); anything else (a local or temporary server, a
    PREFECT_API_URL of unknown make, an unreadable `up.json`) counts as SQLite."""
    try:
        state = read_up(default_home())
    except (OSError, ValueError):  # a broken up.json: the careful start, not a crash
        return False
    if state is None or state.database_url is None:
        return False
    return str(PREFECT_API_URL.value() or "").rstrip("/") == state.api_url.rstrip("/")


def _active(files: SessionFiles) -> bool:
    """Work left that an orchestrator should do (not done, blocked or at a gate)."""
    return report_of(files).lifecycle in (Lifecycle.NEW, Lifecycle.ACTIVE)


def _describe(run: FlowRun) -> str:
    if run.state is None:
        return "with no state"
    return run.state.type.value + (f": {run.state.message}" if run.state.message else "")


def in_flow_context(function: Callable[[ConvoyMember], int]) -> Callable[[ConvoyMember], int]:
    """Run `function` in a copy of this thread's context: the subflow knows its parent."""
    context = contextvars.copy_context()
    return lambda member: context.run(function, member)
