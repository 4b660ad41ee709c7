"""What the API holds for a session before its attempt, in one request: its account's
status (paused by another session?) and whether a message waits past the newest on disk."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from samoflow.economy.accounts import AccountStatus
from samoflow.inbox.files import highest_seq_on_disk
from samoflow.prefect_api.variables import read_variables_named
from samoflow.session.files import SessionFiles
from samoflow.tasks.account_store import status_from, variable_name
from samoflow.tasks.accounts import session_account
from samoflow.tasks.inbox import message_variable


class BeforeAttempt(BaseModel):
    model_config = ConfigDict(frozen=True)

    account: AccountStatus
    mail_waiting: bool  # (a deleted `_inbox/` only makes it yes more often; delivery is exact)


def look_before_attempt(files: SessionFiles) -> BeforeAttempt:
    account = session_account(files)
    status_name = variable_name(account)
    mail_name = message_variable(files.name, highest_seq_on_disk(files) + 1)
    found = read_variables_named(status_name, mail_name)
    return BeforeAttempt(
        account=status_from(account, found.get(status_name)),
        mail_waiting=found.get(mail_name) is not None,
    )
