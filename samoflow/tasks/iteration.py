"""The agent iteration as a Prefect task: one attempt per task try, retried on failure."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, cast

from prefect import Task, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import State
from prefect.concurrency.sync import concurrency

from samoflow.agents.factory import make_adapter
from samoflow.economy.rate_limit import RateLimit
from samoflow.inbox.files import note_shown, unread_messages
from samoflow.loop.iteration import IterationPlan, next_attempt, run_attempt, write_iteration_hook
from samoflow.notices.notice import Notice
from samoflow.prefect_api.events import watch_attempt
from samoflow.session.files import SessionFiles
from samoflow.session.git_truth import verify_before_attempt
from samoflow.session.hold import stop_requested
from samoflow.session.spec import AgentSpec, read_spec
from samoflow.session.state import load_state
from samoflow.settings import get_settings
from samoflow.tasks.notify import notify_humans
from samoflow.workspace.ground_truth import GitTruthError


def _tell_humans(files: SessionFiles) -> Callable[[Notice], None]:
    def tell(notice: Notice) -> None:
        # The function, not a task run: this runs on the watch thread, maybe with the API down.
        notify_humans.fn(notice, files)

    return tell


class AgentFailedError(RuntimeError):
    """An attempt that crashed, exited non-zero or timed out: worth a retry."""


class IterationBlockedError(AgentFailedError):
    """No retry: the iteration blocks with this reason."""


class AgentStalledError(IterationBlockedError):
    """The stall ladder's last step ended the attempt."""


class WorkspaceBlockedError(IterationBlockedError):
    """The session's git ground truth is wrong and cannot be healed: no agent runs."""


class AgentUnhealableError(IterationBlockedError):
    """No login, a refused key, an unknown model, no binary: retrying cannot heal it; the
    iteration blocks at once with the fix."""


class AgentStoppedError(RuntimeError):
    """A human stopped the session (CLI, chat, a Prefect cancellation): no retry."""


class RateLimitedError(RuntimeError):
    """The agent hit a rate or usage limit: not a failure; the flow waits and runs it again."""

    def __init__(self, limit: RateLimit) -> None:
        super().__init__(f"rate limited: {limit.reason}")
        self.limit = limit


def retry_unless_rate_limited(task: object, task_run: object, state: State[Any]) -> bool:
    """Retries are for crashes; a rate limit goes back to the flow, which waits for the reset."""
    try:
        state.result()
    except (RateLimitedError, IterationBlockedError, AgentStoppedError):
        return False
    except Exception:
        return True
    return True


def agent_with_block(
    agent: AgentSpec, fallback_block: str | None
) -> tuple[AgentSpec, dict[str, str]]:
    """The agent as the session's AgentConfig block says now (read before every attempt, so
    an edit in the UI counts), and the key: from that block, else from `agent_block`."""
    name = agent.block or fallback_block
    if not name:
        return agent, {}
    from samoflow.blocks.agent_config import AgentConfig

    block = cast(AgentConfig, AgentConfig.load(name))  # sync context: not a coroutine
    return (block.apply_to(agent) if agent.block else agent), block.secret_env()


@contextmanager
def agent_slot(limit_name: str | None, lease_seconds: float = 60.0) -> Iterator[None]:
    """A slot of the global agent limit, so all workers together run at most N agents.

    Leased: renewed while the attempt runs; a killed holder's slot is free one lease later.
    """
    if not limit_name:
        yield
        return
    with concurrency(limit_name, occupy=1, strict=True, lease_duration=lease_seconds):
        yield


@task(
    name="run-iteration",
    cache_policy=NO_CACHE,
    task_run_name="iteration-{plan.iteration}",
    retry_condition_fn=retry_unless_rate_limited,
)
def run_iteration(files: SessionFiles, plan: IterationPlan) -> None:
    """Write the hook, run the agent once; raise so Prefect retries a failed attempt.

    The attempt's outcome is on disk (the journal): the flow concludes the iteration from there.
    """
    logger = get_run_logger()
    settings = get_settings()
    if stop_requested(files):
        raise AgentStoppedError(f"session {files.name} was stopped before its attempt")
    try:
        for repair in verify_before_attempt(files).repairs:  # never an agent outside its worktree
            logger.warning("%s: %s", files.name, repair)
    except GitTruthError as error:
        raise WorkspaceBlockedError(str(error)) from error
    spec = read_spec(files.spec)
    attempt = next_attempt(files)
    inbox = unread_messages(files)
    hook = write_iteration_hook(files, spec, load_state(files), plan, attempt, inbox)
    note_shown(files, plan.iteration, inbox)
    logger.info("iteration %s (%s), attempt %s", plan.iteration, plan.phase, attempt)
    agent, secrets = agent_with_block(spec.agent, settings.agent_block)
    spec = spec.model_copy(update={"agent": agent})
    try:
        adapter = make_adapter(agent, secrets)
    except FileNotFoundError as missing:  # the agent's binary is not on this worker
        raise AgentUnhealableError(str(missing)) from missing
    with (
        agent_slot(settings.agent_concurrency_limit, settings.agent_slot_lease_seconds),
        watch_attempt(files, hook, settings, _tell_humans(files)) as watch,
    ):
        result = run_attempt(files, spec, hook, adapter, settings, on_output=watch.saw_output)
    if stop_requested(files):
        raise AgentStoppedError(f"session {files.name} was stopped during attempt {attempt}")
    if watch.stalled_reason is not None:
        raise AgentStalledError(watch.stalled_reason)
    if result.rate_limit is not None:
        logger.warning("attempt %s hit a rate limit: %s", attempt, result.rate_limit.reason)
        raise RateLimitedError(result.rate_limit)
    if result.unhealable is not None:
        logger.error("attempt %s cannot succeed on a retry: %s", attempt, result.unhealable)
        raise AgentUnhealableError(result.unhealable)
    if result.failed:
        logger.warning("attempt %s failed: %s", attempt, result.failure_reason())
        raise AgentFailedError(f"attempt {attempt}: {result.failure_reason()}")


@functools.lru_cache(maxsize=8)
def iteration_runner(
    retries: int, retry_delay_seconds: float
) -> Task[[SessionFiles, IterationPlan], None]:
    """`run_iteration` with the session's retries, built once per setting (building a task
    reads its source code for its key: milliseconds every iteration otherwise)."""
    return run_iteration.with_options(retries=retries, retry_delay_seconds=retry_delay_seconds)
