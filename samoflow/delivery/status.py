"""What `samoflow status` says about a session's verification and delivery, from its files."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from samoflow.delivery.gate import checks_records
from samoflow.delivery.session_checks import session_checks
from samoflow.session.files import SessionFiles
from samoflow.session.spec import read_spec
from samoflow.session.state import load_state

UNVERIFIED = "not configured (unverified)"


class Verification(BaseModel):
    model_config = ConfigDict(frozen=True)

    # "green", "green after N red", "red round N of M", "not checked yet", UNVERIFIED
    verified: str
    pull_request_url: str | None = None
    pushed_to: str | None = None


def verification_of(files: SessionFiles) -> Verification:
    """The last checks round and the delivery, as a human reads them in a table."""
    state = load_state(files)
    records = checks_records(state.entries)
    deliveries = [entry.delivery for entry in state.entries if entry.delivery is not None]
    delivery = deliveries[-1] if deliveries else None
    if records:
        last = records[-1]
        reds = sum(1 for record in records if not record.passed)
        if not last.passed:
            verified = f"red round {last.round} of {last.max_rounds}"
        else:
            verified = f"green after {reds} red" if reds else "green"
    elif session_checks(read_spec(files.spec)) is not None:
        verified = "not checked yet"
    else:
        verified = UNVERIFIED
    return Verification(
        verified=verified,
        pull_request_url=delivery.pull_request_url if delivery else None,
        pushed_to=delivery.remote if delivery and delivery.pushed else None,
    )
