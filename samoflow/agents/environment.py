"""The environment an agent process gets: the contract variables, and no secrets of ours."""

from __future__ import annotations

import os
import re

from samoflow.agents.base import AgentRequest

# Names of variables that carry samoflow's or Prefect's credentials: never handed to an agent.
SECRET_NAME = re.compile(
    r"(SLACK|TELEGRAM|PREFECT_API_KEY|PREFECT_API_AUTH|SAMOFLOW_.*(TOKEN|SECRET|WEBHOOK))"
)


def contract_variables(request: AgentRequest) -> dict[str, str]:
    return {
        "SAMOFLOW_SESSION_DIR": str(request.session_dir),
        "SAMOFLOW_WORKING_DIR": str(request.working_dir),
        "SAMOFLOW_HOOK": str(request.hook_path),
        "SAMOFLOW_PHASE": request.phase,
        "SAMOFLOW_ITERATION": str(request.iteration),
        "SAMOFLOW_ATTEMPT": str(request.attempt),
        "SAMOFLOW_ROLE": request.role,
        "SAMOFLOW_PROMPT_FILE": str(request.prompt_file),
    }


def git_ceiling(request: AgentRequest, inherited: dict[str, str]) -> dict[str, str]:
    """Git stops looking above the worktree: in a deleted worktree's stray folder it finds no
    repository, rather than the main checkout around it (whose branch would get the commit)."""
    ceiling = str(request.working_dir.resolve().parent)
    earlier = inherited.get("GIT_CEILING_DIRECTORIES")
    return {"GIT_CEILING_DIRECTORIES": f"{ceiling}:{earlier}" if earlier else ceiling}


def agent_environment(request: AgentRequest) -> dict[str, str]:
    inherited = {name: value for name, value in os.environ.items() if not SECRET_NAME.search(name)}
    guard = git_ceiling(request, inherited)
    return {**inherited, **request.env, **guard, **contract_variables(request)}
