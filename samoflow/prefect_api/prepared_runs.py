"""A flow run made ahead of its start, in as few requests as Prefect allows, then run.

Calling a flow inside a flow makes its run on the spot, serially: a new client for the
placeholder task run (its CSRF token), the placeholder, a look for an earlier run of it,
the flow, the run, a rename, Running, a read back: eight requests. On the embedded SQLite
API that was 130 ms a member of a convoy, 1.6 s before the twelfth could start, and every
write there can be refused for a moment ("database is locked").

`make_subflow_run` makes the placeholder and the run (named, Pending, with the flow's
retries) in two requests, the flow itself once per process and API; `make_flow_run` a
top-level run in one (a flow run Prefect makes costs the flow, the run and a rename).
`run_prepared` runs it with Prefect's own engine, which only sets Running (its read back of
the run is answered from the run made and set Running: one GET less): Prefect's
`run_flow(flow_run=...)` would also rewrite the run's version and retries first (one more
write). A top-level run (`run_top_level`) keeps one client from its making to its end.
The engine is Prefect 3.8's (`prefect==3.8.8` is pinned): `FlowRunEngine` asks its
`create_flow_run` for the run when it was handed none, and this one hands over the run made.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid4

from prefect import Flow, Task
from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.actions import FlowRunCreate
from prefect.client.schemas.objects import FlowRun, FlowRunPolicy, State
from prefect.context import SyncClientContext, TagsContext
from prefect.exceptions import PrefectHTTPStatusError
from prefect.flow_engine import FlowRunEngine
from prefect.settings import PREFECT_API_URL
from prefect.states import Pending, to_state_create

_FLOW_IDS: dict[tuple[str, str], UUID] = {}  # (API, flow name) -> its id there
_FLOW_IDS_GUARD = threading.Lock()


def _flow_id(client: SyncPrefectClient, flow: Flow[..., Any], *, fresh: bool = False) -> UUID:
    key = (str(PREFECT_API_URL.value() or ""), flow.name)
    with _FLOW_IDS_GUARD:
        known = None if fresh else _FLOW_IDS.get(key)
    if known is None:
        known = client.create_flow(flow)  # found again by name when it exists
        with _FLOW_IDS_GUARD:
            _FLOW_IDS[key] = known
    return known


def _create_run(client: SyncPrefectClient, flow: Flow[..., Any], created: FlowRunCreate) -> FlowRun:
    """POST the run; a flow id kept from another database behind the same URL (Prefect's
    temporary server started anew on another PREFECT_HOME) is looked up once more."""
    body = created.model_dump(mode="json", exclude_unset=True)
    try:
        response = client.request("POST", "/flow_runs/", json=body)
    except PrefectHTTPStatusError as error:
        if error.response.status_code >= 500:
            raise
        body["flow_id"] = str(_flow_id(client, flow, fresh=True))
        response = client.request("POST", "/flow_runs/", json=body)
    return FlowRun.model_validate(response.json())


def make_subflow_run(
    flow: Flow[..., Any],
    parent: FlowRun,
    *,
    name: str,
    placeholder_name: str,
    parameters: dict[str, Any],
) -> FlowRun:
    """`flow`'s run as a subflow of `parent` (the UI nests it under a task run of the
    parent's; Prefect's server keeps that task run in the subflow's state), Pending."""
    with SyncClientContext.get_or_create() as client_context:  # the parent's own client
        client = client_context.client
        placeholder = client.create_task_run(
            task=Task(name=flow.name, fn=flow.fn, version=flow.version),
            name=placeholder_name,
            flow_run_id=parent.id,
            dynamic_key=uuid4().hex,  # one per run made: a rerun gets its own
            state=Pending(),
        )
        return _make(client, flow, name, parameters, parent_task_run_id=placeholder.id)


def make_flow_run(flow: Flow[..., Any], *, name: str, parameters: dict[str, Any]) -> FlowRun:
    """`flow`'s run, top level (no flow runs around it), named and Pending."""
    with SyncClientContext.get_or_create() as client_context:
        return _make(client_context.client, flow, name, parameters, parent_task_run_id=None)


def run_top_level(
    flow: Flow[..., Any],
    *,
    name: str,
    parameters: dict[str, Any],
    final_state: FinalState | None = None,
) -> Any:
    """`make_flow_run`, then `run_prepared`, on one client: the engine would otherwise open a
    second (its connection and its CSRF token: two requests more)."""
    with SyncClientContext.get_or_create():
        run = make_flow_run(flow, name=name, parameters=parameters)
        return run_prepared(flow, run, final_state=final_state)


def _make(
    client: SyncPrefectClient,
    flow: Flow[..., Any],
    name: str,
    parameters: dict[str, Any],
    *,
    parent_task_run_id: UUID | None,
) -> FlowRun:
    created = FlowRunCreate(
        flow_id=_flow_id(client, flow),
        flow_version=flow.version,
        name=name,
        parameters=flow.serialize_parameters(parameters),
        context={},
        tags=list(TagsContext.get().current_tags),
        parent_task_run_id=parent_task_run_id,
        state=to_state_create(Pending()),
        empirical_policy=FlowRunPolicy(
            retries=flow.retries, retry_delay=int(flow.retry_delay_seconds or 0)
        ),
    )
    run = _create_run(client, flow, created)
    run.parameters = parameters  # the Python values, as Prefect's own client keeps them
    return run


# The state a run that completed ends in instead of Completed (None: Completed).
FinalState = Callable[[FlowRun], "State[Any] | None"]


@dataclass
class _PreparedRunEngine(FlowRunEngine[Any, Any]):
    prepared: FlowRun | None = None
    final_state: FinalState | None = None
    _read_back: bool = False  # the run's context was entered once

    def create_flow_run(self, client: SyncPrefectClient) -> FlowRun:
        assert self.prepared is not None  # set by `run_prepared`
        return self.prepared

    @contextmanager
    def setup_run_context(self, client: SyncPrefectClient | None = None) -> Iterator[None]:
        """Prefect reads the run back each time it enters the run's context. The first time,
        the run was just made and set Running here: the run as those answers left it is
        given instead (one GET less a run). A retry's reads go to the API as Prefect's do."""
        if self._read_back or self.flow_run is None:
            with super().setup_run_context(client):
                yield
            return
        self._read_back = True
        known = self.flow_run.model_copy(update={"run_count": self.flow_run.run_count + 1})
        with ExitStack() as stack:
            with _reads_answered(client or self.client, known):
                stack.enter_context(super().setup_run_context(client))
            yield

    def set_state(self, state: State[Any], force: bool = False) -> State[Any]:
        # Completed is proposed once, by `handle_success`, with the return value kept apart.
        # Its stand-in is forced: a Failed one must not be turned into a retry of the flow.
        if self.final_state is not None and state.is_completed() and self.flow_run is not None:
            try:
                instead = self.final_state(self.flow_run)
            except Exception:  # as a failing on_completion hook: logged, the run completes
                self.logger.exception("the final state of run %s failed", self.flow_run.name)
                instead = None
            if instead is not None:
                return super().set_state(instead, force=True)
        return super().set_state(state, force)


@contextmanager
def _reads_answered(client: SyncPrefectClient, known: FlowRun) -> Iterator[None]:
    """While the body runs, `client.read_flow_run(known.id)` on this thread is `known`.

    The client may be shared (a convoy's members run on its client, on threads of their
    own): any other read, or one from another thread, goes to the API; when two members
    swap the method at once, a read the other's answers goes to the API too."""
    thread = threading.get_ident()
    original = type(client).read_flow_run

    def read_flow_run(flow_run_id: UUID) -> FlowRun:
        if flow_run_id == known.id and threading.get_ident() == thread:
            return known
        return original(client, flow_run_id)

    client.read_flow_run = read_flow_run  # type: ignore[method-assign]
    try:
        yield
    finally:
        if client.__dict__.get("read_flow_run") is read_flow_run:
            del client.__dict__["read_flow_run"]


def run_prepared(
    flow: Flow[..., Any], flow_run: FlowRun, *, final_state: FinalState | None = None
) -> Any:
    """Run `flow_run` (made by `make_subflow_run` or `make_flow_run`) here, as Prefect's
    `run_flow_sync` does: its result, or the flow's error once its retries are spent. The
    run keeps its name: a `flow_run_name` of `flow` is not applied again. A run that
    completes ends in `final_state(run)` when that gives a state (still returning the
    flow's value): Prefect's `on_completion` hooks could only change it afterwards."""
    named = flow.with_options()  # a copy: named when it was made, not renamed now
    named.flow_run_name = None
    engine = _PreparedRunEngine(
        flow=named, parameters=flow_run.parameters, prepared=flow_run, final_state=final_state
    )
    with engine.start():
        while engine.is_running():
            with engine.run_context():
                engine.call_flow_fn()
    return engine.result()
