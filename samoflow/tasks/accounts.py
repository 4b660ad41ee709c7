"""The session's side of its account: the gate before an attempt, the pause, the resume.

Before each attempt the session reads its account's status (one Variable GET). Paused, it
runs the visible `wait-for-account` task: no agent starts and no iteration is counted; it
leaves as the probe at the reset, or as a follower once the probe resumed the account
(after a jitter). A limit an attempt ran into pauses the account for every session of it;
the humans hear once per pause and once on resume, through the notice outbox.
"""

from __future__ import annotations

import os
import time

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from samoflow.clock import utcnow
from samoflow.economy.account_notice import paused_key, paused_payload, resumed_key, resumed_payload
from samoflow.economy.accounts import (
    AccountState,
    AccountStatus,
    Go,
    account_of,
    decide,
    follower_delay,
    pause_for_limit,
    probe_handed_back,
    resumed,
)
from samoflow.economy.breakers import RATE_LIMIT_NEEDS
from samoflow.economy.daily_budget import add_spend, caps
from samoflow.economy.rate_limit import RateLimit
from samoflow.notices.outbox import NoticeOutbox
from samoflow.notices.slack import SlackPayload
from samoflow.prefect_api.events import report_waiting
from samoflow.session.files import SessionFiles
from samoflow.session.history import Usage, append_entry, system_entry
from samoflow.session.spec import read_spec
from samoflow.session.state import Lifecycle, load_state
from samoflow.session.store import list_sessions
from samoflow.settings import get_settings
from samoflow.tasks.account_store import read_status, update_status
from samoflow.tasks.iteration import agent_with_block
from samoflow.tasks.notify import deliver

ACCOUNT_NEEDS = "account"
_ACCOUNTS: dict[str, str] = {}  # session folder -> account, resolved once per process
_SEEN: dict[str, AccountStatus] = {}  # account -> its status at this process's last gate


def session_account(files: SessionFiles) -> str:
    key = str(files.root)
    if key not in _ACCOUNTS:
        settings = get_settings()
        spec = read_spec(files.spec)
        agent, secrets = agent_with_block(spec.agent, settings.agent_block)
        _ACCOUNTS[key] = account_of(agent, secrets, settings, dict(os.environ))
    return _ACCOUNTS[key]


def _record(files: SessionFiles, reason: str, needs: str = ACCOUNT_NEEDS) -> None:
    state = load_state(files)
    phase = state.phase.value
    append_entry(
        files.history, system_entry(state.last_iteration, phase, reason=reason, needs=needs)
    )


def _tell(files: SessionFiles, key: str, payload: SlackPayload) -> None:
    deliver(NoticeOutbox.for_sessions(files.sessions_root), key, payload)


def account_gate(files: SessionFiles, status: AccountStatus | None = None) -> Go:
    """GO at once while the account is active (the per-attempt cost); else wait for it.
    `status`: the account's status as just read with the session's other look-ups."""
    account = session_account(files)
    status = _SEEN[account] = status if status is not None else read_status(account)
    if status.state is AccountState.ACTIVE:
        return Go.GO
    if status.state is AccountState.PROBING and status.probe == files.name:
        return Go.PROBE  # its claim is still open: this attempt is the probe
    return wait_for_account(files, account)


def _until(status: AccountStatus) -> str:
    return f"{status.until:%H:%M:%S} UTC" if status.until is not None else "a resume by hand"


def _decide_once(session: str, account: str) -> Go:
    """Read; when deciding changes the status (a claim, a new waiter), decide under the lock."""
    settings = get_settings()
    status = read_status(account)
    go, changed = decide(status, session, utcnow(), settings)
    if changed == status:
        return go
    verdict: list[Go] = []

    def change(current: AccountStatus) -> AccountStatus:
        decision, after = decide(current, session, utcnow(), settings)
        verdict.append(decision)
        return after

    update_status(account, change)
    return verdict[-1]


@task(name="wait-for-account", task_run_name="wait-for-{account}", cache_policy=NO_CACHE)
def wait_for_account(files: SessionFiles, account: str) -> Go:
    """Visible in the UI as a running task while the account is paused; heartbeats go on."""
    settings = get_settings()
    started = time.monotonic()
    first = read_status(account)
    _record(files, f"waiting: account {account} paused until {_until(first)} ({first.reason})")
    state = load_state(files)
    while True:
        go = _decide_once(files.name, account)
        if go is not Go.WAIT:
            break
        report_waiting(files, state.phase.value, state.last_iteration, f"account {account}")
        time.sleep(settings.account_poll_seconds)
    if go is Go.GO:
        time.sleep(follower_delay(settings))  # followers spread out after the resume
    waited = time.monotonic() - started
    role = "probes it" if go is Go.PROBE else "follows the probe"
    _record(files, f"account {account} open after {waited:.1f} s: this session {role}")
    get_run_logger().info("account %s: %s after %.1f s", account, go.value, waited)
    return go


def _waiting_sessions(files: SessionFiles, account: str) -> int:
    """Sessions of this account in this sessions folder that still have work to do."""
    count = 0
    for name in list_sessions(files.sessions_root):
        other = SessionFiles(files.sessions_root / name)
        if load_state(other).lifecycle in (Lifecycle.NEW, Lifecycle.ACTIVE):
            count += session_account(other) == account
    return count


def account_limited(files: SessionFiles, limit: RateLimit) -> None:
    """The attempt hit a limit: pause the account (or join its pause) and record it."""
    settings = get_settings()
    account = session_account(files)
    before, after = update_status(
        account, lambda status: pause_for_limit(status, limit, files.name, utcnow(), settings)
    )
    created = after.pause_id != before.pause_id or after.paused_at != before.paused_at
    since = after.paused_at if created and after.paused_at is not None else utcnow()
    seconds = max(0.0, (after.until - since).total_seconds()) if after.until else 0.0
    _record(
        files,
        f"rate limited ({limit.reason}); account {account} paused, "
        f"waiting {seconds:.1f} s until {_until(after)}",
        RATE_LIMIT_NEEDS,
    )
    if after.pause_id != before.pause_id:
        _tell(files, paused_key(after), paused_payload(after, _waiting_sessions(files, account)))


def _probe_passed(status: AccountStatus, session: str) -> AccountStatus:
    probing = status.state is AccountState.PROBING and status.probe == session
    return resumed(status) if probing else status


def hand_back_probe(files: SessionFiles, go: Go) -> None:
    """The probe's run ends without an answer from the API (a human's stop, a signal written
    before the limit): the next waiter probes now, not after the stale-probe timeout."""
    if go is Go.PROBE:
        update_status(session_account(files), lambda s: probe_handed_back(s, files.name))


def account_used(
    files: SessionFiles, go: Go, usage: Usage, *, reached_api: bool = True, stops: bool = False
) -> None:
    """After an attempt that was not limited: the probe resumes the account; spend counts.

    An iteration concluded from a signal its agent wrote before the limit (`reached_api`
    False) ran no agent: it proves nothing, so the session's next attempt is still the
    probe, or, when the run `stops` there, the claim goes back to the waiters."""
    settings = get_settings()
    account = session_account(files)
    if go is Go.PROBE and not reached_api:
        if stops:
            hand_back_probe(files, go)
    elif go is Go.PROBE:
        before, after = update_status(account, lambda s: _probe_passed(s, files.name))
        if before.state is AccountState.PROBING and after.state is AccountState.ACTIVE:
            _tell(files, resumed_key(before), resumed_payload(before, f"the probe of {files.name}"))
    seen = _SEEN.get(account) or AccountStatus(account=account)
    if caps(seen, settings) == (None, None):
        return  # no daily budget (as of the gate's read): no read or write per iteration
    before, after = update_status(account, lambda s: add_spend(s, usage, utcnow(), settings))
    if after.pause_id != before.pause_id:
        _tell(files, paused_key(after), paused_payload(after, _waiting_sessions(files, account)))
