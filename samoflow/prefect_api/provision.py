"""What `samoflow up` sets up on a Prefect server, in one process and over one client: the work
pool, the agents' global concurrency limit and samoflow's block types.

Each step is idempotent (an existing pool or limit is kept as it is, block types are updated to
their current schema), so `up` can run again on the same server. These were once one `prefect`
CLI process each; every one paid Prefect's import (~1.5 s here, several seconds on a loaded
machine) for a single API call.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import importlib
import inspect
import shlex
import sys
from collections.abc import Sequence
from typing import Any

from prefect.blocks.core import Block, InvalidBlockRegistration
from prefect.client.orchestration import PrefectClient, get_client
from prefect.client.schemas.actions import (
    GlobalConcurrencyLimitCreate,
    WorkPoolCreate,
    WorkPoolUpdate,
)
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound
from prefect.workers.process import ProcessWorker


class ProvisionError(RuntimeError):
    """A step the server refused; the message says which."""


def engine_command() -> str:
    """How a worker starts a flow run: Prefect's engine on this interpreter (the project's
    `.venv`, so at the same path wherever the project is, as the deployments need)."""
    return shlex.join([sys.executable, "-m", "prefect.engine"])


def pool_template(template: dict[str, Any]) -> dict[str, Any] | None:
    """The process pool's job template with samoflow's engine command as the default, or
    None when it already names a command (the user's, or ours).

    With no command, Prefect 3.8's process worker starts each flow run through its workspace
    supervisor: one Python process that imports Prefect to prepare the run, then execs a
    second that imports it again for the engine. Measured here: 5-7 s of CPU per flow run
    (every session, convoy member and the minute's monitor and listen runs), about 2.3 s of
    it the second import. With a command the worker starts the engine directly."""
    command = template.get("variables", {}).get("properties", {}).get("command")
    if command is None or command.get("default"):
        return None
    updated = copy.deepcopy(template)
    updated["variables"]["properties"]["command"]["default"] = engine_command()
    return updated


async def _ensure_work_pool(client: PrefectClient, name: str) -> None:
    """Created when missing; an existing pool is kept as the user may have tuned it, only a
    blank command is filled in (see `pool_template`)."""
    try:
        pool = await client.read_work_pool(name)
    except ObjectNotFound:
        template = pool_template(ProcessWorker.get_default_base_job_template())
        with contextlib.suppress(ObjectAlreadyExists):  # a racing `up` created it
            await client.create_work_pool(
                WorkPoolCreate(name=name, type="process", base_job_template=template or {})
            )
        return
    if pool.type != "process":
        return
    template = pool_template(pool.base_job_template)
    if template is not None:
        await client.update_work_pool(name, WorkPoolUpdate(base_job_template=template))


async def _ensure_limit(client: PrefectClient, name: str, limit: int) -> None:
    with contextlib.suppress(ObjectAlreadyExists):
        await client.create_global_concurrency_limit(
            GlobalConcurrencyLimitCreate(name=name, limit=limit)
        )


async def _register_blocks(client: PrefectClient, module_name: str) -> list[str]:
    """As `prefect block register -m MODULE`: every block class the module holds."""
    module = importlib.import_module(module_name)
    registered = []
    for _, cls in inspect.getmembers(module):
        if cls is not None and Block.is_block_class(cls):
            try:
                await cls.register_type_and_schema(client=client)
            except InvalidBlockRegistration:
                continue  # Block itself and abstract bases: not registrable
            registered.append(cls.get_block_type_slug())
    if not registered:
        raise ProvisionError(f"no block types found in {module_name}")
    return registered


async def _provision(
    pool: str, limit_name: str, limit: int, block_modules: Sequence[str]
) -> list[str]:
    async with get_client() as client:
        await _ensure_work_pool(client, pool)
        await _ensure_limit(client, limit_name, limit)
        slugs = []
        for module_name in block_modules:
            slugs += await _register_blocks(client, module_name)
        return slugs


def provision(pool: str, limit_name: str, limit: int, block_modules: Sequence[str]) -> list[str]:
    """Create the pool and the limit when missing, register the blocks; the block type slugs."""
    try:
        return asyncio.run(_provision(pool, limit_name, limit, block_modules))
    except ProvisionError:
        raise
    except Exception as error:  # an HTTP error, a refused schema: name the step's failure
        raise ProvisionError(f"setting up the server failed: {error!r}") from error


# Deployments prefect.yaml deploys with no schedule that an earlier samoflow scheduled:
# `prefect deploy` sends no schedules for an existing deployment when the file names none, so
# the old schedule would stay. `listen` ran every minute until the monitor listened itself;
# both polling at once could hand one reply to two listeners.
UNSCHEDULED = ("samoflow-listen/listen",)


def drop_stale_schedules(names: Sequence[str] = UNSCHEDULED) -> list[str]:
    """Remove the schedules of these deployments (after `prefect deploy`); the deployments
    that had any, each named once."""
    dropped = []
    try:
        with get_client(sync_client=True) as client:
            for name in names:
                try:
                    found = client.read_deployment_by_name(name)
                except ObjectNotFound:
                    continue
                schedules = client.read_deployment_schedules(found.id)
                for schedule in schedules:
                    client.delete_deployment_schedule(found.id, schedule.id)
                if schedules:
                    dropped.append(name)
    except Exception as error:  # an HTTP error: name the step's failure, as `provision` does
        raise ProvisionError(f"removing stale schedules failed: {error!r}") from error
    return dropped
