"""`python -m tests.support.serve_session`: the session flow served by a Prefect runner, as a
worker runs it (a UI cancellation reaches it the same way)."""

from __future__ import annotations

from samoflow.flows.session import session_flow

DEPLOYMENT = "holds-test"

if __name__ == "__main__":
    session_flow.serve(name=DEPLOYMENT)
