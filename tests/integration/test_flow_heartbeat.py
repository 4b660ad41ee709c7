"""Session and convoy runs samoflow starts in its own process have no Prefect heartbeat
thread (the lease is their proof of life); a plain Prefect flow run still has one."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from prefect import flow

from samoflow.convoy.record import MemberState
from tests.support.convoys import full_scenario, run_plan, write_plan

pytestmark = pytest.mark.usefixtures("prefect_api")
STARTED = "Started flow run heartbeat context"  # Prefect's own debug line for the thread


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@contextmanager
def flow_run_debug_lines() -> Iterator[list[str]]:
    logger = logging.getLogger("prefect.flow_runs")
    handler, level = _Lines(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler.lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


@flow
def plain_flow() -> int:
    return 1


def test_a_convoy_run_here_and_its_members_start_no_heartbeat_thread(repo: Path) -> None:
    with flow_run_debug_lines() as lines:
        plain_flow()
    assert STARTED in lines  # the probe sees Prefect's heartbeat thread where there is one

    plan = write_plan(repo.parent, "quiet", {n: full_scenario() for n in ("one", "two")})
    with flow_run_debug_lines() as lines:
        record = run_plan(plan, repo)  # as `samoflow convoy PLAN` runs it, unserved
    assert [m.state for m in record.members] == [MemberState.DONE] * 2
    assert STARTED not in lines
