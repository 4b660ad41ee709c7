"""What the API holds for a session before its attempt, in one request: its account's
status (paused by another session?) and whether a message waits past the newest on disk.

The answer is kept and given again while nothing rang this session's or its account's bell
(`samoflow/serve/bells.py`) and it is younger than `Settings.api_look_seconds`: most
attempts then need no request at all. Only a plain answer is kept (the account active, no
mail waiting): anything else is asked again, as it will have changed.
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


_ANSWERS: dict[str, _Answer] = {}  # by session folder: each session's own last answer
_ANSWERS_GUARD = threading.Lock()  # convoy members look from threads of one process


def look_before_attempt(files: SessionFiles) -> BeforeAttempt:
    account = session_account(files)
    # Read before the request: a ring after this makes the next look ask again.
    chimes = (chime(INBOX, files.name), chime(ACCOUNT, account))
    next_seq = highest_seq_on_disk(files) + 1
    key = str(files.root)
    with _ANSWERS_GUARD:
        kept = _ANSWERS.get(key)
    fresh_for = get_settings().api_look_seconds
    if (
        kept is not None
        and kept.chimes == chimes
        and kept.next_seq == next_seq
        and time.monotonic() - kept.asked_at < fresh_for
    ):
        return kept.look
    asked_at = time.monotonic()
    look = _ask(account, message_variable(files.name, next_seq))
    with _ANSWERS_GUARD:
        if look.account.state is AccountState.ACTIVE and not look.mail_waiting:
            _ANSWERS[key] = _Answer(chimes, next_seq, asked_at, look)
        else:
            _ANSWERS.pop(key, None)
    return look


def _ask(account: str, mail_name: str) -> BeforeAttempt:
    status_name = variable_name(account)
    found = read_variables_named(status_name, mail_name)
    return BeforeAttempt(
        account=status_from(account, found.get(status_name)),
        mail_waiting=found.get(mail_name) is not None,
    )
