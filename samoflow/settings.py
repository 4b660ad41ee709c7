"""Every tunable number of samoflow in one place, each overridable as SAMOFLOW_<NAME>."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Named timings and limits; tests set them to seconds through the environment."""

    model_config = SettingsConfigDict(env_prefix="SAMOFLOW_", frozen=True)

    # One agent run (samocode: CLAUDE_TIMEOUT 1800 s).
    agent_timeout_seconds: float = Field(1800.0, gt=0)
    # Attempts after the first for a crashed, failed or timed-out iteration (samocode: 3 tries).
    iteration_retries: int = Field(2, ge=0)
    iteration_retry_delay_seconds: float = Field(5.0, ge=0)
    # Hard cap over all phases, on top of each phase's own limit.
    max_total_iterations: int = Field(200, ge=1)
    # An agent that leaves `{}` this many times in a row is not making progress.
    empty_signal_limit: int = Field(3, ge=1)
    # Iterations that must pass after a handoff before another handoff is accepted.
    handoff_cooldown_iterations: int = Field(2, ge=0)
    # How long a session waits at a human gate before it ends as `waiting`.
    gate_timeout_seconds: int = Field(7 * 24 * 3600, ge=1)
    # How often a paused session asks Prefect whether its gate was answered.
    gate_poll_seconds: float = Field(10.0, gt=0)
    # Orchestrator retries of the whole session flow (it resumes from the files).
    session_flow_retries: int = Field(2, ge=0)
    # Rate limits: the wait when the agent names no reset (doubled per repeat), and its cap.
    rate_limit_default_wait_seconds: float = Field(300.0, ge=0)
    rate_limit_max_wait_seconds: float = Field(3600.0, gt=0)
    # The account every session spends (none: agent kind + a fingerprint of its key).
    account: str | None = None
    # At the reset one session probes the account; off: it stays paused until
    # `samoflow limits resume ACCOUNT` (for those who do not want it running overnight).
    account_auto_resume: bool = True
    # How often a waiting session reads its account's state; the spread of the followers'
    # start after a resume; a probe older than this is taken over (its session died).
    account_poll_seconds: float = Field(5.0, gt=0)
    account_resume_jitter_seconds: float = Field(10.0, ge=0)
    account_probe_stale_seconds: float = Field(2400.0, gt=0)
    # Spend caps per account per UTC day (none: no cap); crossing one pauses the account.
    account_daily_budget_usd: float | None = Field(None, gt=0)
    account_daily_budget_tokens: int | None = Field(None, gt=0)
    # Claude's context window when its stream does not say (modelUsage.contextWindow), and
    # the fraction of it at which samoflow ends the agent at a turn boundary and hands off
    # to a fresh one itself (none: only when the agent asks).
    context_window_tokens: int = Field(200_000, ge=1000)
    context_handoff_fraction: float | None = Field(None, gt=0, le=1)
    # How old the loop's last answer from the API (its account's status, whether a message
    # waits) may be at an attempt when no bell rang (`samoflow/serve/bells.py`); 0: ask
    # before every attempt.
    api_look_seconds: float = Field(1.0, ge=0)
    # The sandbox `codex exec` runs the agent in (the session folder is added as writable).
    codex_sandbox: Literal["read-only", "workspace-write", "danger-full-access"] = "workspace-write"
    # Added to a reset the agent names: clock drift, and the CLI prints "3:47pm" (no seconds).
    limit_reset_skew_seconds: float = Field(60.0, ge=0)
    # Budget breaker defaults per session (none: no limit); warn at this fraction of a limit.
    session_budget_usd: float | None = Field(None, gt=0)
    session_budget_tokens: int | None = Field(None, gt=0)
    budget_warning_fraction: float = Field(0.8, gt=0, le=1)
    # Name of a Prefect global concurrency limit every agent attempt holds a slot of
    # (`samoflow up` creates `samoflow-agents`); none: agents are not capped across workers.
    agent_concurrency_limit: str | None = None
    # A slot's lease: a killed holder's slot is given back this long after its last renewal.
    agent_slot_lease_seconds: float = Field(60.0, ge=60)  # Prefect: 60 s at least
    # The merge lock's lease: a convoy killed mid-merge frees the repository this long after.
    merge_lock_lease_seconds: float = Field(60.0, ge=60)
    # With no `samoflow up` and no PREFECT_API_URL: `shared` starts one local server that
    # every command reuses (stopped after this many idle seconds); `embedded` is Prefect's
    # temporary server per process (two of them on one SQLite file stall each other).
    prefect_api: Literal["shared", "embedded"] = "shared"
    local_server_idle_seconds: float = Field(60.0, ge=0)
    # The Claude Code binary (`SAMOFLOW_CLAUDE_BIN`); none: `claude` on PATH.
    claude_bin: str | None = None
    # Name of an AgentConfig block whose API key is handed to agent processes (none: no key).
    agent_block: str | None = None
    # How many characters of agent output an iteration keeps for its error message.
    output_tail_chars: int = Field(2000, ge=100)
    # Sessions a convoy runs at once (each is an agent process and a worktree).
    convoy_concurrency: int = Field(4, ge=1)
    # The first sessions of a convoy start at least this far apart, so their agents do not
    # all start in one instant (creating each run takes longer on SQLite: no wait there).
    convoy_start_spacing_seconds: float = Field(0.1, ge=0)
    # How a convoy runs its members: `subflow` (threads of the convoy's own process),
    # `deployment` (runs of `convoy_member_deployment`, which any worker of the pool picks
    # up), or `auto`: deployment runs when the convoy itself runs from a deployment and the
    # member deployment exists, subflows otherwise (`make demo`, `samoflow convoy` unserved).
    convoy_dispatch: Literal["auto", "subflow", "deployment"] = "auto"
    convoy_member_deployment: str = "samoflow-session/session"
    # How often a convoy asks Prefect whether a member's deployment run has ended.
    convoy_poll_seconds: float = Field(2.0, gt=0)
    # A convoy member whose orchestrator died is left this long to its convoy, which sees
    # the crashed run and starts it again itself; after it the monitor restarts the member.
    convoy_member_grace_seconds: float = Field(30.0, ge=0)
    # The SlackAlerts block to send through; when no block has this name, notices are printed.
    slack_block: str = "samoflow-slack"
    # With no block, a notice is printed as Slack would show it; true prints its JSON payload.
    print_slack_json: bool = False
    # One HTTP request to Slack, and the retries of a 5xx / connection error / 429 after it.
    slack_timeout_seconds: float = Field(10.0, gt=0)
    slack_retries: int = Field(2, ge=0)
    # The TelegramAlerts / WebhookAlerts blocks notices also go to (none: that channel is off).
    # Named here, so a notice is queued for them even while the Prefect API is down.
    telegram_block: str | None = None
    webhook_block: str | None = None
    # Telegram and webhook: one request's timeout, the retries after it (5xx, 429, connection
    # errors), and the longest retry-after honoured in place (longer: the next flush).
    notify_timeout_seconds: float = Field(10.0, gt=0)
    notify_retries: int = Field(2, ge=0)
    notify_max_retry_wait_seconds: float = Field(30.0, ge=0)
    # Replies: how long a Slack notice's thread is read for replies, and how long one
    # Telegram long poll (getUpdates) waits; the listen deployment listens this long per run.
    reply_window_days: float = Field(7.0, gt=0)
    reply_poll_seconds: int = Field(20, ge=0, le=50)
    listen_seconds: float = Field(55.0, gt=0)
    # How often a running orchestrator refreshes `_lease.json` (its proof of life).
    lease_heartbeat_seconds: float = Field(5.0, gt=0)
    # A lease whose heartbeat is older than this is not alive, even if its pid exists.
    lease_stale_seconds: float = Field(30.0, gt=0)
    # How long `samoflow stop` waits for the orchestrator to record the stop and let go of
    # its lease before it ends that process itself (asleep at a gate or a rate-limit wait).
    stop_wait_seconds: float = Field(30.0, gt=0)
    # How often a run no runner supervises (`run --local`) asks whether the UI cancelled it.
    cancel_poll_seconds: float = Field(5.0, gt=0)
    # Wait before the second restart of one session; doubles per restart up to the max.
    restart_backoff_initial_seconds: float = Field(30.0, ge=0)
    restart_backoff_max_seconds: float = Field(600.0, ge=0)
    # This many monitor restarts within the window is a crash loop: stop and tell a human.
    crash_loop_max_restarts: int = Field(5, ge=1)
    crash_loop_window_seconds: float = Field(900.0, gt=0)
    # Seconds between two sweeps of `samoflow monitor`.
    monitor_interval_seconds: float = Field(60.0, gt=0)
    # At most one `samoflow.session.heartbeat` event per session this often (agent output
    # can be many lines a second); also the cadence of the file-change scan. The stall
    # automation can fire up to this much later than `stall_seconds` after the last output.
    heartbeat_interval_seconds: float = Field(2.0, gt=0)
    # No progress for this long is a stall (Gas Town: 15 min in its TUI, 30 min hung).
    # The automation's window; Prefect wants at least 10 s for a proactive trigger.
    stall_seconds: float = Field(900.0, gt=0)
    # The least time between two steps of the stall ladder (nudge, handoff, restart, block).
    stall_escalate_seconds: float = Field(600.0, ge=0)
    # The in-process watchdog acts this much later than the automation would, so with a
    # Prefect server the automation acts first and the watchdog is the last line.
    watchdog_grace_seconds: float = Field(60.0, ge=0)
    # How often the watchdog looks at the clock and at `_control.json` during an attempt.
    watchdog_poll_seconds: float = Field(1.0, gt=0)
    # The file-change scan looks at no more entries than this (a huge tree stays cheap).
    progress_scan_max_entries: int = Field(20_000, ge=100)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
