"""The session flow: one samocode-compatible session, iteration by iteration, resumable."""

from __future__ import annotations

import os
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any
from uuid import UUID

from prefect import Flow, flow, get_run_logger
from prefect.client.schemas.objects import FlowRun, State
from prefect.context import FlowRunContext
from prefect.exceptions import FlowPauseTimeout
from prefect.flow_runs import pause_flow_run
from prefect.input import RunInput
from prefect.runtime import deployment, flow_run

from samoflow.convoy.setup import requested_workers
from samoflow.delivery.status import verification_of
from samoflow.economy.accounts import AccountState, Go
from samoflow.economy.breakers import check_budget
from samoflow.health.lease import hold_lease
from samoflow.health.stop_pause import honour_hold, stop_after_cancellation
from samoflow.loop.iteration import (
    begin_iteration,
    conclude_iteration,
    finish_recorded_iteration,
)
from samoflow.notices.notice import NoticeKind, session_notice
from samoflow.prefect_api.artifacts_behind import publish_and_settle, publish_behind
from samoflow.prefect_api.cancellation import watch_cancellation
from samoflow.prefect_api.events import report_progress
from samoflow.prefect_api.flow_heartbeat import without_flow_heartbeat
from samoflow.prefect_api.prepared_runs import make_subflow_run, run_prepared, run_top_level
from samoflow.prefect_api.results import unpersisted_results
from samoflow.prefect_api.run_names import session_run_name
from samoflow.prefect_api.run_states import blocked_run_state, end_blocked_run_failed
from samoflow.session.files import SessionFiles
from samoflow.session.gate import GateAnswer, PendingGate, read_gate, write_gate
from samoflow.session.history import HistoryEntry, Outcome
from samoflow.session.repair import (
    block_if_overview_unreadable,
    load_state_repaired,
    require_spec,
    set_aside_unreadable,
)
from samoflow.session.spec import read_spec
from samoflow.session.state import (
    HELD,
    Lifecycle,
    SessionReport,
    SessionState,
    load_state,
    report_of,
)
from samoflow.session.store import record_gate_answer
from samoflow.settings import get_settings
from samoflow.tasks.accounts import (
    account_gate,
    account_limited,
    account_used,
    hand_back_probe,
)
from samoflow.tasks.before_attempt import look_before_attempt
from samoflow.tasks.checks import run_session_checks
from samoflow.tasks.convoy import prepare_worker_convoy
from samoflow.tasks.delivery import deliver_if_due
from samoflow.tasks.inbox import deliver_inbox, mail_waiting, outbox_waiting, route_outbox
from samoflow.tasks.iteration import (
    AgentFailedError,
    AgentStoppedError,
    IterationBlockedError,
    RateLimitedError,
    iteration_runner,
)
from samoflow.tasks.notify import notify_humans

# Set by Prefect's runners and workers in the process they start for a flow run.
RUN_PROCESS_VARIABLE = "PREFECT__FLOW_RUN_ID"
# The run ends here; a human (or nobody, when done) acts next.
ENDS_RUN = frozenset({Lifecycle.DONE, Lifecycle.BLOCKED, *HELD})
STOPS_RUN = frozenset({Outcome.DONE, Outcome.BLOCKED, Outcome.WAITING})  # ends it or waits


class GateInput(RunInput):
    """The form the Prefect UI shows for a paused session."""

    text: str
    approve: bool = True


def _run_name() -> str:
    return session_run_name(SessionFiles(Path(flow_run.parameters["session_dir"])))


def stop_on_cancellation(flow: Flow[..., Any], flow_run: FlowRun, state: State[Any]) -> None:
    """Cancelled in the UI: recorded as a stop (no orphan agent, the lease released)."""
    files = SessionFiles(Path(str(flow_run.parameters["session_dir"])))
    stop_after_cancellation(files, "prefect cancellation", get_settings())


@flow(
    name="samoflow-session",
    flow_run_name=_run_name,
    retries=2,
    retry_delay_seconds=5,
    on_completion=[end_blocked_run_failed],  # the UI shows a block as Failed, with its reason
    on_cancellation=[stop_on_cancellation],
    **unpersisted_results(),
)
def session_flow(session_dir: str) -> SessionReport:
    """Resume from the files; loop: inbox, hook, iteration, judge, record, act."""
    files = SessionFiles(Path(session_dir))
    with (
        hold_lease(files, flow_run_id=str(flow_run.id)),  # the monitor's proof of life
        watch_own_cancellation(files),
    ):
        while True:
            state = check_session_files(files)
            if honour_hold(files) or state.lifecycle in ENDS_RUN:
                return finish(files)
            if state.lifecycle is Lifecycle.WAITING:
                answer = await_answer(files, state)
                if answer is None:
                    return finish(files)
                if load_state(files).lifecycle is Lifecycle.WAITING:  # not stopped meanwhile
                    record_gate_answer(files, answer)
                continue
            run_requested_workers(files)
            if over_budget(files):
                continue  # recorded as blocked: the loop ends the run
            go = gate_and_deliver(files)
            entry = run_one_iteration(files, load_state(files), go)
            if entry is None:
                continue  # limited (the account is paused) or stopped (recorded next)
            entry = deliver_if_due(files) or entry  # green and done: push, pull request
            if outbox_waiting(files):
                route_outbox(files)
            # The UI's cards: the next iteration does not wait for them. The last picture of
            # a run goes at once, while the humans are told and the run ends, not after it.
            publish_behind(files, now=entry.outcome in STOPS_RUN)
            tell_humans_about(files, entry)
            report_progress(files, entry)  # a heartbeat, or `ended` to quiet the stall watch


def run_session_flow(session_dir: str) -> SessionReport:
    """The session flow run here (the CLI, a resume, a started session): the lease is its
    proof of life, so without Prefect's flow heartbeat thread (its join ends every run late).
    Its run is made named (a subflow inside a flow run: a started session), then run."""
    files = SessionFiles(Path(session_dir))
    name = session_run_name(files)
    parameters = {"session_dir": session_dir}
    with without_flow_heartbeat():
        around = FlowRunContext.get()
        if around is not None and around.flow_run is not None:
            run = make_subflow_run(
                session_flow, around.flow_run, name=name, placeholder_name=name,
                parameters=parameters,
            )
            report = run_prepared(session_flow, run, final_state=blocked_run_state)
        else:
            report = run_top_level(
                session_flow, name=name, parameters=parameters, final_state=blocked_run_state
            )
    assert isinstance(report, SessionReport)  # the flow's return value
    return report


def check_session_files(files: SessionFiles) -> SessionState:
    """Before every act: the spec is there, broken history rows are quarantined, an
    unreadable overview blocks the session with the reason (never a crash loop), an
    unreadable journal or handoff is set aside, and the rest of a conclusion a crash cut
    off after its history row is done."""
    require_spec(files)
    state = load_state_repaired(files)
    blocked = block_if_overview_unreadable(files, state)
    if blocked is None:
        if set_aside_unreadable(files):
            state = load_state(files)
        finish_recorded_iteration(files, state)
        return state
    tell_humans_about(files, blocked)
    return load_state(files)


def watch_own_cancellation(files: SessionFiles) -> AbstractContextManager[None]:
    """Served runs are cancelled by their runner (SIGTERM, then the hook); others watch.

    A runner or worker starts a deployment's run in a process of its own, with the run's id
    in its environment; without it there is no deployment to ask about (`get_id` would read
    this run from the API to find none)."""
    if os.environ.get(RUN_PROCESS_VARIABLE) and deployment.get_id() is not None:
        return nullcontext()
    return watch_cancellation(files, UUID(str(flow_run.id)), get_settings().cancel_poll_seconds)


def run_requested_workers(files: SessionFiles) -> None:
    """A coordinator's last signal asked for workers: run them as its convoy, then go on."""
    if not requested_workers(files):
        return  # the usual case, checked without a task run
    convoy_file = prepare_worker_convoy(files)
    if convoy_file is not None:
        from samoflow.flows.convoy import convoy_flow  # it runs session flows: imported when needed

        convoy_flow(convoy_file)


def over_budget(files: SessionFiles) -> bool:
    """The breaker: no new iteration once a limit is crossed (a cut-off one may finish)."""
    if files.journal.exists():
        return False
    notice = check_budget(files, get_settings())
    if notice is not None:
        notify_humans(notice)
    return load_state(files).lifecycle is Lifecycle.BLOCKED


def gate_and_deliver(files: SessionFiles) -> Go:
    """The account's gate, then the inbox: both from one API request before the attempt."""
    look = look_before_attempt(files)
    go = account_gate(files, look.account)  # waits (a visible task) while it is paused
    waited = look.account.state is not AccountState.ACTIVE  # mail may have come meanwhile
    mail = mail_waiting(files) if waited else look.mail_waiting
    if mail:
        deliver_inbox(files)  # a task run only when there is something to deliver
    return go


def run_one_iteration(files: SessionFiles, state: SessionState, go: Go) -> HistoryEntry | None:
    """The iteration to its recorded outcome; None when a limit paused its account instead."""
    settings = get_settings()
    plan = begin_iteration(files, state)
    failure = None
    if not plan.signalled:
        runner = iteration_runner(
            settings.iteration_retries, settings.iteration_retry_delay_seconds
        )
        try:
            runner(files, plan)
        except RateLimitedError as limited:
            account_limited(files, limited.limit)
            return None
        except AgentStoppedError:
            hand_back_probe(files, go)  # a stopped probe proves nothing
            return None  # a human's stop: the loop records it and ends the run
        except IterationBlockedError as stopped:
            failure = str(stopped)  # a stall's or the workspace's block: its reason, no retry
        except AgentFailedError as error:
            failure = f"agent failed {settings.iteration_retries + 1} times, last: {error}"
    gate = lambda done_state: run_session_checks(files, done_state)  # noqa: E731
    entry = conclude_iteration(files, state, plan, settings, failure=failure, gate=gate)
    # A probe that got through resumes its account; one that ran no agent proves nothing.
    account_used(files, go, entry.usage, reached_api=not plan.signalled,
                 stops=entry.outcome in STOPS_RUN)
    return entry


def tell_humans_about(files: SessionFiles, entry: HistoryEntry) -> None:
    kinds = {Outcome.BLOCKED: NoticeKind.BLOCKED, Outcome.DONE: NoticeKind.DONE}
    if entry.outcome not in kinds:
        return
    text = entry.reason or entry.summary or ""
    if entry.outcome is Outcome.DONE:
        text += f"\nverified: {verification_of(files).verified}"
    notify_humans(
        session_notice(
            files,
            kinds[entry.outcome],
            text,
            phase=entry.phase,
            iteration=entry.iteration,
            next_step=(
                f"fix the cause, then `samoflow run --session {files.name}`"
                if entry.outcome is Outcome.BLOCKED
                else ""
            ),
        ),
        files,
    )


def await_answer(files: SessionFiles, state: SessionState) -> GateAnswer | None:
    """A human's answer to the gate: left on disk, or given while this run is paused."""
    settings = get_settings()
    if read_spec(files.spec).auto_approve_gates:
        return GateAnswer(text="approved by policy (auto_approve_gates)", answered_by="samoflow")
    gate = read_gate(files.gate)
    if gate is not None and gate.answer is not None:
        return gate.answer
    last = state.entries[-1]
    if gate is None:
        notify_humans(
            session_notice(
                files,
                NoticeKind.WAITING,
                last.summary or f"waiting for {last.for_ or 'an answer'}",
                next_step=f"answer in the Prefect UI or `samoflow answer {files.name}`",
            ),
            files,
        )
    write_gate(
        files.gate,
        PendingGate(
            iteration=state.last_iteration,
            phase=state.phase.value,
            for_=last.for_,
            summary=last.summary,
            flow_run_id=str(flow_run.id),
        ),
    )
    get_run_logger().info("session %s waits for a human answer", files.name)
    try:
        given = pause_flow_run(
            wait_for_input=GateInput,
            timeout=settings.gate_timeout_seconds,
            poll_interval=int(max(1, settings.gate_poll_seconds)),
            key=f"gate-{state.last_iteration}-{len(state.entries)}",
        )
    except FlowPauseTimeout:
        return None
    return GateAnswer(text=given.text, approve=given.approve, answered_by="prefect")


def finish(files: SessionFiles) -> SessionReport:
    delivered = deliver_if_due(files)  # a restart between `done` and its delivery
    if delivered is not None:
        tell_humans_about(files, delivered)
    report = report_of(files)
    publish_and_settle(files)
    return report
