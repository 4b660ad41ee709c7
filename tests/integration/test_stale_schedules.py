"""`samoflow up` on a server an earlier samoflow deployed to: the `listen` deployment, once
scheduled every minute, loses its schedule (the monitor listens now), since `prefect deploy`
leaves an existing deployment's schedules alone when prefect.yaml names none."""

from __future__ import annotations

from datetime import timedelta

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.schedules import IntervalSchedule

from samoflow.flows.listen import listen_flow
from samoflow.prefect_api.provision import UNSCHEDULED, drop_stale_schedules

pytestmark = pytest.mark.usefixtures("prefect_api")


def test_the_old_listen_schedule_is_removed_and_nothing_else() -> None:
    listen_flow.to_deployment(name="listen", cron="* * * * *").apply()
    with get_client(sync_client=True) as client:
        (name,) = UNSCHEDULED
        deployment = client.read_deployment_by_name(name)
        client.create_deployment_schedules(  # a second schedule: the name still comes once
            deployment.id, [(IntervalSchedule(interval=timedelta(hours=1)), True)]
        )
        assert len(client.read_deployment_schedules(deployment.id)) == 2

        assert drop_stale_schedules() == [name]
        assert client.read_deployment_schedules(deployment.id) == []
        assert client.read_deployment_by_name(name).id == deployment.id  # the deployment stays
    assert drop_stale_schedules() == []  # again: nothing left to drop
    assert drop_stale_schedules(["samoflow-nothing/here"]) == []  # a missing one is no error
