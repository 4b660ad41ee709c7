"""One iteration's life on disk: begin (or resume), run an attempt, conclude exactly once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from samoflow.agents.base import AgentAdapter, AgentRequest, AgentResult, OutputObserver
from samoflow.agents.claude_context import ContextReport
from samoflow.agents.process import ProcessOutcome, kill_process_group, run_process
from samoflow.atomic import atomic_write_text
from samoflow.delivery.gate import pending_red
from samoflow.inbox.files import move_seen_messages
from samoflow.loop.context_handoff import ContextStop, cooldown_over, with_context
from samoflow.loop.instructions import instructions_for, sources_for
from samoflow.loop.judge import Limits, judge
from samoflow.loop.prompting import build_prompt
from samoflow.loop.verification import Gate, gated
from samoflow.session.files import SessionFiles
from samoflow.session.handoff import HandoffRecord, mark_consumed, pending_handoff, save_handoff
from samoflow.session.history import HistoryEntry, Outcome, Usage, append_entry
from samoflow.session.hook import Hook, write_hook
from samoflow.session.journal import IterationJournal, process_alive, read_journal, write_journal
from samoflow.session.overview import update_overview
from samoflow.session.phases import Phase
from samoflow.session.signals import Signal, SignalReading, read_signal
from samoflow.session.spec import SessionSpec
from samoflow.session.state import SessionState, load_state
from samoflow.settings import Settings


class IterationPlan(BaseModel):
    """The iteration about to run; `signalled` when a cut-off run had already signalled."""

    model_config = ConfigDict(frozen=True)

    iteration: int
    phase: Phase
    resumed: bool = False
    signalled: bool = False


def begin_iteration(files: SessionFiles, state: SessionState) -> IterationPlan:
    """Start the next iteration, or pick up the one a crash cut off (never a finished one)."""
    journal = read_journal(files.journal)
    if journal is not None and journal.iteration == state.next_iteration:
        if process_alive(journal.agent_pid, journal.agent_started):
            # An orphan of a dead orchestrator: its output pipe is gone, so it cannot finish.
            assert journal.agent_pid is not None
            kill_process_group(journal.agent_pid)
        elif files.signal.exists():
            # The agent finished and signalled; only the recording was lost.
            return IterationPlan(
                iteration=journal.iteration, phase=state.phase, resumed=True, signalled=True
            )
        return IterationPlan(iteration=journal.iteration, phase=state.phase, resumed=True)
    if journal is not None:
        finish_recorded_iteration(files, state)
    files.signal.unlink(missing_ok=True)
    # The journal is first written when the agent starts (`run_attempt`): a crash before
    # that leaves nothing to resume, and the iteration simply begins again.
    return IterationPlan(iteration=state.next_iteration, phase=state.phase)


def finish_recorded_iteration(files: SessionFiles, state: SessionState) -> bool:
    """A crash after an iteration's history row (its commit point) and before its journal
    was removed: the rest of its conclusion is done now, and the journal removed.

    Left in place, that journal would read as an iteration in flight (a coordinator's
    requested workers and the budget check skipped), its attempts would be counted into the
    next iteration's, and the messages the recorded iteration saw would be shown again."""
    journal = read_journal(files.journal)
    if journal is None or journal.iteration > state.last_iteration:
        return False  # none, or one in flight: resumed by `begin_iteration`
    if journal.iteration == state.last_iteration:
        _after_the_record(files, state.phase, journal.iteration)
    files.journal.unlink(missing_ok=True)
    return True


def _after_the_record(files: SessionFiles, next_phase: Phase, iteration: int) -> None:
    """What follows an iteration's history row; each step can be done again."""
    # No fsync: the history row is the commit point, these fields are copied from it
    # and written again every iteration (the agent's own lines are never synced either).
    update_overview(files.overview, phase=next_phase.value, total=iteration, durable=False)
    move_seen_messages(files, iteration)


def write_iteration_hook(
    files: SessionFiles,
    spec: SessionSpec,
    state: SessionState,
    plan: IterationPlan,
    attempt: int,
    inbox_unread: list[str],
) -> Hook:
    hook = next_hook(files, spec, state, plan, attempt, inbox_unread)
    write_hook(files.hook, hook)
    return hook


def next_hook(
    files: SessionFiles,
    spec: SessionSpec,
    state: SessionState,
    plan: IterationPlan,
    attempt: int,
    inbox_unread: list[str],
) -> Hook:
    """The hook of the iteration `plan`: written before each attempt, shown by `prompt`."""
    handoff = pending_handoff(files.handoff)
    red = pending_red(state.entries)
    return Hook(
        task_id=spec.name,
        session=spec.name,
        role=spec.role.value,
        phase=plan.phase.value,
        iteration=plan.iteration,
        total_iterations=state.last_iteration,
        attempt=attempt,
        convoy=spec.convoy,
        working_dir=spec.working_dir,
        task=spec.task,
        inbox_unread=inbox_unread,
        handoff=str(files.handoff) if handoff else None,
        instructions=f"Do ONE action of the {plan.phase.value} phase, then write _signal.json.",
        checks_red=f"{red.headline()}: see the check_failure inbox message" if red else None,
    )


def run_attempt(
    files: SessionFiles,
    spec: SessionSpec,
    hook: Hook,
    adapter: AgentAdapter,
    settings: Settings,
    on_output: Callable[[str], None] = lambda line: None,
) -> AgentResult:
    """One agent process for the hooked iteration, journalled as it starts (its pid)."""
    journal = read_journal(files.journal)
    if journal is None or journal.iteration != hook.iteration:  # the iteration's first attempt
        journal = IterationJournal(iteration=hook.iteration, phase=hook.phase)
    files.signal.unlink(missing_ok=True)
    request = agent_request(files, spec, hook, settings)
    observer = adapter.observer()
    watch = observer.context()
    stop = ContextStop(watch, cooldown_over(files, Phase(hook.phase), settings))
    agent_pid: list[int] = []

    def remember_agent(pid: int, started: float) -> None:
        agent_pid.append(pid)
        update = {"attempt": hook.attempt, "agent_pid": pid, "agent_started": started}
        write_journal(files.journal, journal.model_copy(update=update))

    def on_line(line: str) -> None:
        observer.feed(line)
        on_output(line)
        stop.check(agent_pid[0] if agent_pid else None)

    outcome = run_process(
        adapter.command(request),
        cwd=request.working_dir,
        env=adapter.environment(request),
        stdin_text=adapter.stdin_text(request),
        log_path=request.log_path,
        timeout_seconds=request.timeout_seconds,
        on_line=on_line,
        on_start=remember_agent,
        tail_chars=settings.output_tail_chars,
    )
    stop.leave_signal(files)
    context = stop.report() or (watch.report() if watch is not None else None)
    result = _result_of(outcome, observer, ended_by_us=stop.ended, context=context)
    _add_spending(files, journal, result)
    return result


def _result_of(
    outcome: ProcessOutcome,
    observer: OutputObserver,
    *,
    ended_by_us: bool,
    context: ContextReport | None,
) -> AgentResult:
    """What the attempt came to; an agent samoflow ended itself (a handoff) did not fail."""
    error = None if ended_by_us else observer.error()
    failed = not ended_by_us and (outcome.timed_out or outcome.exit_code != 0 or error is not None)
    return AgentResult(
        exit_code=outcome.exit_code,
        timed_out=outcome.timed_out,
        duration_seconds=outcome.duration_seconds,
        usage=observer.usage(),
        output_tail=outcome.output_tail,
        error=error,
        rate_limit=observer.rate_limit(failed),
        context=context,
        unhealable=observer.unhealable() if failed else None,
    )


def agent_request(
    files: SessionFiles, spec: SessionSpec, hook: Hook, settings: Settings
) -> AgentRequest:
    """What the agent process is given for this attempt; its prompt is kept in `_logs/`."""
    prompt_file = files.prompt_file(hook.iteration, hook.attempt)
    red = pending_red(load_state(files).entries) if hook.checks_red else None
    prompt = build_prompt(spec, hook, str(files.root), pending_handoff(files.handoff), red)
    atomic_write_text(prompt_file, prompt, durable=False)  # a log of what the agent got
    return AgentRequest(
        session_dir=files.root,
        working_dir=Path(spec.working_dir),
        hook_path=files.hook,
        prompt=prompt,
        instructions=instructions_for(Phase(hook.phase), hook.role, sources_for(spec)),
        prompt_file=prompt_file,
        log_path=files.iteration_log(hook.iteration, hook.attempt, hook.phase),
        phase=hook.phase,
        iteration=hook.iteration,
        attempt=hook.attempt,
        role=hook.role,
        timeout_seconds=spec.agent.timeout_seconds or settings.agent_timeout_seconds,
    )


def _add_spending(files: SessionFiles, journal: IterationJournal, result: AgentResult) -> None:
    spent = with_context(read_journal(files.journal) or journal, result.context)
    update = {
        "usage": spent.usage + result.usage,
        "agent_seconds": round(spent.agent_seconds + result.duration_seconds, 3),
    }
    write_journal(files.journal, spent.model_copy(update=update))


def next_attempt(files: SessionFiles) -> int:
    journal = read_journal(files.journal)
    return (journal.attempt if journal else 0) + 1


def limits_from(settings: Settings) -> Limits:
    return Limits(
        max_total_iterations=settings.max_total_iterations,
        empty_signal_limit=settings.empty_signal_limit,
        handoff_cooldown_iterations=settings.handoff_cooldown_iterations,
    )


def _settle_handoff(
    files: SessionFiles, plan: IterationPlan, outcome: Outcome, signal: Signal | None
) -> None:
    """A handoff saves its state for the next agent; any other outcome consumes a pending one."""
    if outcome is Outcome.HANDOFF and signal is not None:
        save_handoff(
            files.handoff,
            HandoffRecord(
                from_iteration=plan.iteration,
                phase=plan.phase.value,
                summary=signal.summary,
                state=signal.state,
            ),
        )
    elif pending_handoff(files.handoff) is not None:
        mark_consumed(files.handoff, plan.iteration)


def conclude_iteration(
    files: SessionFiles,
    state: SessionState,
    plan: IterationPlan,
    settings: Settings,
    *,
    failure: str | None = None,
    gate: Gate | None = None,
) -> HistoryEntry:
    """Judge the signal (or the failure), gate a `done` on the checks, record it once, then
    apply it to the overview."""
    journal = read_journal(files.journal)
    attempts = max(journal.attempt if journal else 1, 1)
    reading = SignalReading(problem=failure) if failure is not None else read_signal(files.signal)
    standing = state.standing_for(plan.phase)
    signal = reading.signal
    verdict, checks = gated(
        judge(reading, standing, limits_from(settings)),
        standing,
        gate,
        signal.state if signal else None,
    )
    _settle_handoff(files, plan, verdict.outcome, signal)
    entry = HistoryEntry(
        iteration=plan.iteration,
        phase=plan.phase.value,
        status=signal.status.value if signal else ("continue" if reading.empty else None),
        outcome=verdict.outcome,
        next_phase=verdict.next_phase.value,
        summary=signal.summary if signal else None,
        reason=verdict.reason,
        needs=verdict.needs or (signal.needs if signal else None),
        for_=signal.for_ if signal else None,
        attempts=attempts,
        duration_seconds=journal.agent_seconds if journal else 0.0,
        usage=journal.usage if journal else Usage(),
        empty_signal=reading.empty,
        context_peak_tokens=journal.context_peak_tokens or None if journal else None,
        context_window_tokens=journal.context_window_tokens or None if journal else None,
        compactions=journal.compactions if journal else 0,
        checks=checks,
    )
    append_entry(files.history, entry)  # the commit point of the iteration
    _after_the_record(files, verdict.next_phase, plan.iteration)
    files.journal.unlink(missing_ok=True)  # last: until then a restart finishes the above
    return entry
