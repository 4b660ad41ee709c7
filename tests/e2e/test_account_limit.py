"""One account, one pause: a convoy of 3 real claude sessions hits a usage limit together.

The scripted server answers every call with the subscription usage-limit 429 (headers that
make Claude Code print a `rate_limit_event` with `resetsAt`) for a short window once some
calls went through. The first failure pauses the account; the server then sees no call
until the reset, one probe first, and the rest only after the probe got through.
"""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from samoflow.convoy.record import MemberState
from samoflow.notices.outbox import NoticeOutbox
from samoflow.project import load_config
from samoflow.session.files import SessionFiles
from samoflow.session.history import EntryKind, HistoryEntry, iterations, read_history
from samoflow.settings import get_settings
from tests.e2e.test_claude_session import _prompt_fact, model_turn
from tests.support.claude_cli import claude_env, find_claude_binary
from tests.support.convoys import run_plan
from tests.support.fake_anthropic import Exchange, FakeAnthropic, Reply, usage_limit_reply

CLAUDE = find_claude_binary()
pytestmark = [
    pytest.mark.slow,
    pytest.mark.usefixtures("prefect_api"),
    pytest.mark.skipif(CLAUDE is None, reason="Claude Code CLI not installed (make setup)"),
]
MEMBERS = ("ant", "bee", "cow")
CALLS_BEFORE_LIMIT = 5
WINDOW_SECONDS = float(__import__("os").environ.get("SAMOFLOW_TEST_LIMIT_WINDOW", "20"))


class LimitWindow:
    """After `after` good main calls, every call gets the usage-limit 429 for `seconds`."""

    def __init__(self, after: int, seconds: float) -> None:
        self.after, self.seconds = after, seconds
        self.opened: float | None = None
        self.served = 0
        self._lock = threading.Lock()

    @property
    def closes(self) -> float:
        assert self.opened is not None
        return self.opened + self.seconds

    def __call__(self, body: dict[str, Any], call: int) -> Reply:
        with self._lock:
            now = time.time()
            if self.opened is None and self.served >= self.after:
                self.opened = now
            if self.opened is not None and now < self.closes:
                return usage_limit_reply(int(self.closes) + 1)
            self.served += 1
        return model_turn(body, call)


def _session_of(exchange: Exchange) -> str:
    return Path(_prompt_fact(exchange.body, "Session folder")).name


def _plan(folder: Path, account: str) -> Path:
    lines = [f'name = "limits-{account[-6:]}"', "concurrency = 3", "notify_on_complete = false"]
    for name in MEMBERS:
        lines += [
            "",
            "[[sessions]]",
            f'name = "{name}"',
            f'task = "add the {name} greeting"',
            'agent = "claude"',
            f'agent_command = "{CLAUDE}"',
            'model = "claude-sonnet-4-5"',
            f'account = "{account}"',
            "auto_approve = true",
            "timeout_seconds = 120",
        ]
    plan = folder / "limits.toml"
    plan.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return plan


def _subscription_env(base_url: str, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A subscription login (OAuth token, no API key): the CLI reports rate_limit_event."""
    env = claude_env(base_url, home)
    env.pop("ANTHROPIC_API_KEY")
    env |= {
        "CLAUDE_CODE_OAUTH_TOKEN": "sk-ant-oat01-fake-for-tests",
        "CLAUDE_CODE_MAX_RETRIES": "0",
    }
    for name, value in env.items():
        if name != "PATH":
            monkeypatch.setenv(name, value)  # members inherit it: a plan has no env


def test_a_usage_limit_pauses_the_account_and_one_probe_resumes_it(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = f"max-{uuid.uuid4().hex[:6]}"
    for name, value in {
        "SAMOFLOW_LIMIT_RESET_SKEW_SECONDS": "1",
        "SAMOFLOW_ACCOUNT_POLL_SECONDS": "0.5",
        "SAMOFLOW_ACCOUNT_RESUME_JITTER_SECONDS": "1",
        "SAMOFLOW_CONVOY_START_SPACING_SECONDS": "0",
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    window = LimitWindow(CALLS_BEFORE_LIMIT, WINDOW_SECONDS)
    with FakeAnthropic(window) as api:
        _subscription_env(api.base_url, tmp_path / "claude-home", monkeypatch)
        record = run_plan(_plan(tmp_path, account), repo)
        exchanges = [e for e in api.exchanges if e.role == "main"]
        assert not api.script_errors
    assert [m.state for m in record.members] == [MemberState.DONE] * 3
    sessions = load_config(repo).sessions
    histories = {name: read_history(SessionFiles(sessions / name).history) for name in MEMBERS}
    assert_no_iteration_lost_or_counted_twice(histories)
    assert_calls_stop_during_the_pause(exchanges, window)
    assert_one_probe_then_the_rest(exchanges, window, histories)
    sent = NoticeOutbox.for_sessions(sessions).sent
    assert sorted(p.name for p in sent.glob(f"account-{account}-*")) == [
        f"account-{account}-paused-1.json",
        f"account-{account}-resumed-1.json",
    ]


def assert_no_iteration_lost_or_counted_twice(histories: dict[str, list[HistoryEntry]]) -> None:
    limited = 0
    for name, entries in histories.items():
        done = iterations(entries)
        assert [e.iteration for e in done] == list(range(1, 9)), name
        system = [e for e in entries if e.kind is EntryKind.SYSTEM]
        hits = [e for e in system if e.needs == "rate_limit"]
        assert len(hits) <= 1, name
        limited += len(hits)
        # A limit is no failure: at most one more attempt (none when the agent had signalled
        # before the limited call: the iteration is concluded from its signal).
        assert 8 <= sum(e.attempts for e in done) <= 8 + len(hits), name
        assert any((e.reason or "").startswith("waiting: account") for e in system), name
    assert limited >= 1


def assert_calls_stop_during_the_pause(exchanges: list[Exchange], window: LimitWindow) -> None:
    assert window.opened is not None, "the limit window never opened"
    during = [e for e in exchanges if window.opened <= e.at < window.closes]
    assert all(e.status == 429 for e in during)
    per_session = [_session_of(e) for e in during]
    assert per_session and all(per_session.count(s) == 1 for s in per_session), per_session


def assert_one_probe_then_the_rest(
    exchanges: list[Exchange], window: LimitWindow, histories: dict[str, list[HistoryEntry]]
) -> None:
    probes = [
        name
        for name, entries in histories.items()
        if any("this session probes it" in (e.reason or "") for e in entries)
    ]
    assert len(probes) == 1, probes
    (probe,) = probes
    after = [e for e in exchanges if e.at >= window.closes]
    assert _session_of(after[0]) == probe
    # The probe's limited iteration was concluded before any other session called again.
    entries = histories[probe]
    claimed = next(i for i, e in enumerate(entries) if "probes it" in (e.reason or ""))
    concluded = next(e for e in entries[claimed:] if e.kind is EntryKind.ITERATION)
    for name in MEMBERS:
        if name != probe:
            first = next(e for e in after if _session_of(e) == name)
            assert first.at > concluded.timestamp.timestamp(), name
