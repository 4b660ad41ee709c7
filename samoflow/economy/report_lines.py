"""The line prefixes of the report hooks any agent CLI may print (`SAMOFLOW_USAGE {json}`,
`SAMOFLOW_RATE_LIMIT {json}`). Standard library only: the scripted agent prints them from
a process of its own per iteration, which must start without samoflow's pydantic models."""

from __future__ import annotations

USAGE_PREFIX = "SAMOFLOW_USAGE "
RATE_LIMIT_PREFIX = "SAMOFLOW_RATE_LIMIT "
