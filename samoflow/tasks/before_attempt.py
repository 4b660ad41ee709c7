"""What the API holds for a session before its attempt, in one request: its account's
status (paused by another session?) and whether a message waits past the newest on disk.

The answer is kept and given again while nothing rang this session's or its account's bell
(`samoflow/serve/bells.py`) and it is younger than `Settings.api_look_seconds`: most
attempts then need no request at all. Only a plain answer is kept (the account active, no
mail waiting): anything else is asked again, as it will have changed.

The sessions of one process (a convoy's members) share the request: whoever asks, asks for
every session of the process that looked lately, one at a time, so the others find a fresh
answer of their own. Measured on a 12-member convoy on the embedded SQLite API, one request
each was 65 requests in 20 s, averaging 200 ms as they queued behind each other's writes.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict

from samoflow.economy.accounts import AccountState, AccountStatus
from samoflow.inbox.files import highest_seq_on_disk
from samoflow.prefect_api.variables import read_variables_named
from samoflow.serve.bells import ACCOUNT, INBOX, chime
from samoflow.session.files import SessionFiles
from samoflow.settings import get_settings
from samoflow.tasks.account_store import status_from, variable_name
from samoflow.tasks.accounts import session_account
from samoflow.tasks.inbox import message_variable

# Sessions that looked this recently are asked for with the next look of any session.
SHARED_FOR_SECONDS = 60.0
# Besides the asker's own: a request asks for two names a session (Prefect caps a filter).
SHARED_SESSIONS = 49


class BeforeAttempt(BaseModel):
    model_config = ConfigDict(frozen=True)

    account: AccountStatus
    mail_waiting: bool  # (a deleted `_inbox/` only makes it yes more often; delivery is exact)


@dataclass(frozen=True)
class _Answer:
    chimes: tuple[str | None, str | None]  # the bells as they were before the request
    next_seq: int
    asked_at: float
    look: BeforeAttempt


@dataclass(frozen=True)
class _Looker:
    """A session as its last look saw it: what a request asks for on its behalf."""

    name: str
    account: str
    next_seq: int
    seen_at: float

    def chimes(self) -> tuple[str | None, str | None]:
        return chime(INBOX, self.name), chime(ACCOUNT, self.account)


_ANSWERS: dict[str, _Answer] = {}  # by session folder: each session's last plain answer
_LOOKERS: dict[str, _Looker] = {}  # by session folder
_GUARD = threading.Lock()  # convoy members look from threads of one process
_ASKING = threading.Lock()  # one request at a time: the others wait and read its answer


def look_before_attempt(files: SessionFiles) -> BeforeAttempt:
    key = str(files.root)
    account = session_account(files)
    # Read before the request: a ring after this makes the next look ask again.
    chimes = (chime(INBOX, files.name), chime(ACCOUNT, account))
    next_seq = highest_seq_on_disk(files) + 1
    kept = _kept(key, chimes, next_seq)
    if kept is not None:
        return kept
    looker = _Looker(files.name, account, next_seq, time.monotonic())
    with _GUARD:
        _LOOKERS[key] = looker
    with _ASKING:
        kept = _kept(key, chimes, next_seq)  # asked for by the session that asked meanwhile
        if kept is not None:
            return kept
        return _ask(key, looker, chimes)[key]


def _kept(key: str, chimes: tuple[str | None, str | None], next_seq: int) -> BeforeAttempt | None:
    with _GUARD:
        kept = _ANSWERS.get(key)
    if (
        kept is not None
        and kept.chimes == chimes
        and kept.next_seq == next_seq
        and time.monotonic() - kept.asked_at < get_settings().api_look_seconds
    ):
        return kept.look
    return None


def _ask(
    key: str, looker: _Looker, chimes: tuple[str | None, str | None]
) -> dict[str, BeforeAttempt]:
    """One request for this session and the others of the process that looked lately."""
    now = time.monotonic()
    with _GUARD:
        for gone in [k for k, seen in _LOOKERS.items() if now - seen.seen_at > SHARED_FOR_SECONDS]:
            del _LOOKERS[gone]
        others = sorted(
            ((k, seen) for k, seen in _LOOKERS.items() if k != key),
            key=lambda item: -item[1].seen_at,
        )[:SHARED_SESSIONS]
    # The others' bells are read before the request too: a ring after it asks again.
    asked = [(key, looker, chimes), *((k, seen, seen.chimes()) for k, seen in others)]
    names = {variable_name(seen.account) for _, seen, _ in asked}
    names |= {message_variable(seen.name, seen.next_seq) for _, seen, _ in asked}
    asked_at = time.monotonic()
    found = read_variables_named(*sorted(names))
    looks = {}
    with _GUARD:
        for k, seen, rang in asked:
            look = BeforeAttempt(
                account=status_from(seen.account, found.get(variable_name(seen.account))),
                mail_waiting=found.get(message_variable(seen.name, seen.next_seq)) is not None,
            )
            looks[k] = look
            if look.account.state is AccountState.ACTIVE and not look.mail_waiting:
                _ANSWERS[k] = _Answer(rang, seen.next_seq, asked_at, look)
            else:
                _ANSWERS.pop(k, None)
    return looks
