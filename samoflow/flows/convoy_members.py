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
from prefect import Flow, get_run_logger
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import FlowRun
from prefect.context import FlowRunContext
from prefect.deployments import run_deployment
from prefect.exceptions import ObjectNotFound, PrefectHTTPStatusError
from prefect.runtime import deployment

from samoflow.convoy.record import ConvoyError, ConvoyMember, ConvoyRecord
from samoflow.flows.session import session_flow
from samoflow.health.lease import running_elsewhere
from samoflow.prefect_api.artifacts_behind import settled_by_caller
from samoflow.prefect_api.flow_heartbeat import without_flow_heartbeat
from samoflow.prefect_api.prepared_runs import make_subflow_run, run_prepared
from samoflow.prefect_api.run_names import session_run_name, session_run_tags
from samoflow.prefect_api.run_states import blocked_run_state
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
    subflows = SubflowMembers(wave=wave, spacing=settings.convoy_start_spacing_seconds)
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
    """Session flow subflows in this process, created one at a time, the first wave spaced.

    Each member's run is made in two requests (`create_member_run`) and started; the next
    member's is made once it runs. Two members' writes at once on the embedded SQLite API
    were refused ("database is locked", 503): each creation while the one before was set
    Running, 12 retries on one convoy's start; two creations at once, several times running
    (see `samoflow/prefect_api/retries.py` for what a refused write costs). A member
    of the first wave (as many as run at once) starts its work at its place in the spacing,
    counted from the first member's creation, so agents do not all start in one instant.
    Creating a run takes longer than the default spacing on SQLite, so there it only sets a
    floor for faster servers.

    Measured with benchmarks/convoy_efficiency.py (12 members, embedded SQLite API): holding
    the wave until all were created, then starting them 0.25 s apart, had the last member's
    first agent 4.5-5.8 s into the run (66-75 % of ideal); holding with no spacing, 2.6 s,
    and the wave's iterations then ran in step, 0.14-0.24 s between a member's agents
    (75-77 %); each started as soon as it was made, one member from creation to Running at a
    time: 1.7-3.2 s, 0.03-0.08 s (81-85 %, median 83 %, in 13 of 17 runs; the other 4 waited
    60 s on a write the SQLite server held, see README's benchmarks).
    """

    reattaches = False  # the subflows of a convoy process that died died with it

    def __init__(self, wave: int, spacing: float) -> None:
        self._spacing = spacing
        self._creating = threading.Lock()
        self._counting = threading.Lock()
        self._created = 0
        self._wave = wave
        self._first_created: float | None = None

    def _count(self) -> int:
        """The next place in the wave (a member's run exists, or failed to be made)."""
        with self._counting:
            place = self._created
            self._created += 1
            if self._first_created is None:
                self._first_created = time.monotonic()
        return place

    def _wait_for_turn(self, place: int) -> None:
        """Agents that start together compete: the first wave's members start spaced."""
        if place >= self._wave or self._first_created is None:
            return
        time.sleep(turn_delay(place, self._spacing, self._first_created, time.monotonic()))

    def run(self, member: ConvoyMember) -> int:
        # One member at a time from its creation to Running: its writes and the next
        # member's creation refused each other ("database is locked") every time on SQLite.
        turn = _Turn(self._creating)
        member_flow = session_flow.with_options(
            on_running=[*session_flow.on_running_hooks, self._turn_hook(turn)]  # keep its own
        )
        turn.take()
        try:
            flow_run = create_member_run(member_flow, member)
        except BaseException:
            self._count()  # never made: the wave goes on without it
            turn.give_back()
            raise
        turn.place = self._count()
        try:
            # The member's lease is its proof of life: no heartbeat thread to join at its
            # end. Its final cards go out behind it: the convoy settles them all at its end.
            with without_flow_heartbeat(), settled_by_caller():
                run_prepared(member_flow, flow_run, final_state=blocked_run_state)
            return 0  # a crash here is this process's: the flow's retries or the monitor's
        finally:
            turn.give_back()  # it never reached Running: the next member goes on

    def _turn_hook(self, turn: _Turn) -> Any:
        """A state hook, (flow, flow_run, state) -> None: at its first Running the member
        lets the next one be made and waits for its place (a flow retry goes at once)."""

        def on_running(*_: object) -> None:
            if turn.give_back():
                self._wait_for_turn(turn.place)

        return on_running


class _Turn:
    """A member's hold on the convoy's creation lock, given back exactly once."""

    def __init__(self, lock: threading.Lock) -> None:
        self._lock = lock
        self._held = False
        self.place = 0  # in the wave, once its run is made

    def take(self) -> None:
        self._lock.acquire()
        self._held = True

    def give_back(self) -> bool:
        """True the first time (only the member's own thread and its hook call this)."""
        if not self._held:
            return False
        self._held = False
        self._lock.release()
        return True


def create_member_run(member_flow: Flow[..., Any], member: ConvoyMember) -> FlowRun:
    """The member's flow run, a subflow of the convoy's run (see prepared_runs.py)."""
    context = FlowRunContext.get()
    if context is None or context.flow_run is None:
        raise ConvoyError("a convoy's members run inside the convoy's flow run")
    return make_subflow_run(
        member_flow,
        context.flow_run,
        name=session_run_name(SessionFiles(Path(member.session_dir))),
        placeholder_name=f"session-{member.name}",
        parameters={"session_dir": member.session_dir},
    )


def turn_delay(place: int, spacing: float, first_created: float, now: float) -> float:
    """How long the member at `place` of the wave still waits: its turn is `place` spacings
    after the first member's creation (none left when its own took longer than that)."""
    return max(0.0, first_created + place * spacing - now)


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
