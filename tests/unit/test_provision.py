"""The work pool `samoflow up` creates: its flow runs start Prefect's engine directly."""

from __future__ import annotations

import shlex
import sys

from prefect.utilities.templating import apply_values
from prefect.workers.process import ProcessWorker

from samoflow.prefect_api.provision import engine_command, pool_template


def test_a_blank_command_becomes_this_interpreters_engine() -> None:
    default = ProcessWorker.get_default_base_job_template()
    template = pool_template(default)
    assert template is not None
    assert template["variables"]["properties"]["command"]["default"] == engine_command()
    assert shlex.split(engine_command()) == [sys.executable, "-m", "prefect.engine"]
    assert default["variables"]["properties"]["command"]["default"] is None  # not mutated
    # The worker fills the run's configuration from the variables' defaults: the command is
    # set, so its process worker starts the engine with it (no workspace supervisor).
    defaults = {k: v.get("default") for k, v in template["variables"]["properties"].items()}
    configuration = apply_values(template["job_configuration"], defaults)
    assert configuration["command"] == engine_command()


def test_a_pool_whose_command_is_set_is_kept_as_it_is() -> None:
    template = ProcessWorker.get_default_base_job_template()
    template["variables"]["properties"]["command"]["default"] = "/opt/python -m prefect.engine"
    assert pool_template(template) is None
    assert pool_template({"variables": {"properties": {}}}) is None  # not a process pool's
