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
import importlib
import inspect
from collections.abc import Sequence

from prefect.blocks.core import Block, InvalidBlockRegistration
from prefect.client.orchestration import PrefectClient, get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate, WorkPoolCreate
from prefect.exceptions import ObjectAlreadyExists


class ProvisionError(RuntimeError):
    """A step the server refused; the message says which."""


async def _ensure_work_pool(client: PrefectClient, name: str) -> None:
    with contextlib.suppress(ObjectAlreadyExists):  # kept as the user may have tuned it
        await client.create_work_pool(WorkPoolCreate(name=name, type="process"))


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
