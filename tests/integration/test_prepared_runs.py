"""A subflow run made ahead of its start, run by Prefect's engine (prefect_api/prepared_runs.py)."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import httpx
import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import FlowRun, State, StateType
from prefect.context import FlowRunContext
from prefect.runtime import flow_run as runtime_flow_run
from prefect.settings import PREFECT_API_URL
from prefect.states import Failed

from samoflow.prefect_api import prepared_runs
from samoflow.prefect_api.prepared_runs import make_subflow_run, run_prepared, run_top_level

pytestmark = pytest.mark.usefixtures("prefect_api")


@flow(name="samoflow-test-prepared-child", flow_run_name="renamed-{word}", retries=1)
def child(word: str) -> str:
    if word == "fails":
        raise ValueError("the child failed")
    return word.upper()


def _prepared(words: list[str]) -> list[Any]:
    @flow(name="samoflow-test-prepared-parent")
    def parent() -> list[Any]:
        context = FlowRunContext.get()
        assert context is not None and context.flow_run is not None
        results: list[Any] = []
        for word in words:
            run = make_subflow_run(
                child, context.flow_run, name=f"made-{word}", placeholder_name=f"child-{word}",
                parameters={"word": word},
            )
            try:
                results.append((run.id, run_prepared(child, run)))
            except ValueError as error:
                results.append((run.id, error))
        return results

    return parent()


def test_a_prepared_run_is_a_named_subflow_and_its_placeholder_ends_with_it() -> None:
    (ran, result), (failed, error) = _prepared(["hello", "fails"])
    assert result == "HELLO"
    assert isinstance(error, ValueError)  # the flow's own error, after its retry
    with get_client(sync_client=True) as client:
        run, broken = client.read_flow_run(ran), client.read_flow_run(failed)
        assert run.name == "made-hello"  # its own name, not the flow's run name template
        assert run.state is not None and run.state.is_completed()
        assert broken.state is not None and broken.state.is_failed() and broken.run_count == 2
        assert run.parent_task_run_id is not None and broken.parent_task_run_id is not None
        placeholder = client.read_task_run(run.parent_task_run_id)
        other = client.read_task_run(broken.parent_task_run_id)
        parent = client.read_flow_run(placeholder.flow_run_id)  # type: ignore[arg-type]
    assert placeholder.name == "child-hello" and parent.name is not None
    assert placeholder.flow_run_id == other.flow_run_id  # both under the one parent run
    assert placeholder.state is not None and placeholder.state.is_completed()
    assert other.state is not None and other.state.is_failed()


def test_a_flow_id_kept_from_another_database_is_looked_up_again() -> None:
    key = (str(PREFECT_API_URL.value() or ""), child.name)
    stale = uuid4()
    prepared_runs._FLOW_IDS[key] = stale  # as if the server behind the URL were new
    ((ran, result),) = _prepared(["again"])
    assert result == "AGAIN"
    with get_client(sync_client=True) as client:
        made = client.read_flow_run(ran).flow_id
        assert made == client.read_flow_by_name(child.name).id != stale
    assert prepared_runs._FLOW_IDS[key] == made


@flow(name="samoflow-test-prepared-counted")
def counted() -> int:
    return int(runtime_flow_run.run_count)


def test_a_prepared_run_sees_itself_as_the_api_has_it_without_reading_it_back() -> None:
    requests: list[str] = []
    original = httpx.Client.send

    def send(self: httpx.Client, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        requests.append(f"{request.method} {request.url.path}")
        return original(self, request, **kwargs)

    name = f"counted-{uuid4().hex[:6]}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(httpx.Client, "send", send)
        seen = run_top_level(counted, name=name, parameters={})
    assert seen == 1  # the run count the API gave it when it went Running
    reads = [r for r in requests if r.startswith("GET /api/flow_runs/")]
    assert reads == [], requests
    with get_client(sync_client=True) as client:
        [run] = [r for r in client.read_flow_runs() if r.name == name]
    assert run.run_count == 1 and run.state is not None and run.state.is_completed()


def _failed_for_blocks(run: FlowRun) -> State[Any] | None:
    blocks = run.parameters["word"] == "blocks"
    return Failed(name="Blocked", message="it blocks") if blocks else None


def test_a_top_level_run_ends_in_its_final_state_with_no_completed_before_it() -> None:
    results = {
        word: run_top_level(
            child, name=f"top-{word}-{uuid4().hex[:6]}", parameters={"word": word},
            final_state=_failed_for_blocks,
        )
        for word in ("blocks", "passes")
    }
    assert results == {"blocks": "BLOCKS", "passes": "PASSES"}  # the value still comes back
    with get_client(sync_client=True) as client:
        for word, final in (("blocks", StateType.FAILED), ("passes", StateType.COMPLETED)):
            [run] = [
                r for r in client.read_flow_runs() if (r.name or "").startswith(f"top-{word}-")
            ]
            history = [state.type for state in client.read_flow_run_states(run.id)]
            assert history == [StateType.PENDING, StateType.RUNNING, final], (word, history)
            assert run.state is not None and run.state.name == (
                "Blocked" if word == "blocks" else "Completed"
            )


def test_a_final_state_that_fails_leaves_the_run_completed_not_retried() -> None:
    def broken(run: FlowRun) -> State[Any] | None:
        raise OSError("the session's files are unreadable")

    name = f"top-broken-{uuid4().hex[:6]}"
    kept = run_top_level(child, name=name, parameters={"word": "kept"}, final_state=broken)
    assert kept == "KEPT"
    with get_client(sync_client=True) as client:
        [run] = [r for r in client.read_flow_runs() if r.name == name]
        history = [state.type for state in client.read_flow_run_states(run.id)]
    assert history == [StateType.PENDING, StateType.RUNNING, StateType.COMPLETED]
    assert run.run_count == 1
