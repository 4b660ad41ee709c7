"""`python -m samoflow.cli.resume SESSION_DIR`: run one session's orchestrator from its files.

The entry point the monitor starts (detached) to bring a session back after its
orchestrator died. It takes the lease before Prefect loads, so the heartbeat is fresh
while Prefect imports and connects, then runs the session flow to its next stop.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import typer

from samoflow.cli.common import reach_prefect
from samoflow.health.lease import LeaseError, hold_lease
from samoflow.session.files import SessionFiles


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("session_dir", type=Path)
    args = parser.parse_args(argv)
    files = SessionFiles(args.session_dir.resolve())
    if not files.spec.exists():
        print(f"samoflow resume: {files.root} is not a session folder", file=sys.stderr)
        return 2
    try:
        with hold_lease(files):
            reach_prefect()  # the API the monitor that started it used (inherited), as ever
            from samoflow.flows.session import run_session_flow  # Prefect loads under a lease

            report = run_session_flow(str(files.root))
    except typer.Exit as refused:  # no API to write to: the message is printed
        return int(refused.exit_code)
    except LeaseError as error:
        print(f"samoflow resume: {error}", file=sys.stderr)
        return 3
    print(
        f"session {report.session}: {report.lifecycle} in phase {report.phase} "
        f"after {report.iterations} iterations"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
