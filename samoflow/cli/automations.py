"""`samoflow automations apply`: create or update samoflow's Prefect automations by name.

Apply them before sessions start: Prefect's triggers service loads a new or changed
automation only after a few seconds, and events it has not seen cannot fire it.
"""

from __future__ import annotations

import typer
from rich.console import Console

from samoflow.settings import get_settings

console = Console()
automations_app = typer.Typer(
    help="Prefect automations samoflow relies on (stall detection).", no_args_is_help=True
)


@automations_app.callback()
def automations() -> None:
    """Prefect automations samoflow relies on (stall detection)."""  # a group, even of one


@automations_app.command("apply")
def apply() -> None:
    """Create (or update, by name) the stall automation: no heartbeat -> stall handler run."""
    from samoflow.cli.common import reach_prefect

    reach_prefect()
    from samoflow.prefect_api.automations import (  # Prefect: lazily
        AutomationError,
        apply_stall_automation,
    )

    settings = get_settings()
    try:
        applied = apply_stall_automation(settings)
    except AutomationError as error:
        console.print(f"[red]error:[/red] {error}", soft_wrap=True)
        raise typer.Exit(code=2) from error
    verb = "created" if applied.created else "updated"
    console.print(
        f"{verb} automation [bold]{applied.name}[/bold] ({applied.automation_id}): no heartbeat "
        f"from a session for {settings.stall_seconds:g} s runs {applied.deployment}"
    )
    if not applied.deployment_ready:
        console.print(
            f"[yellow]note:[/yellow] nothing serves {applied.deployment} yet: start a worker "
            "(`samoflow up`) or `python -m flows.stall`; until then only the in-process "
            "watchdog handles stalls",
            soft_wrap=True,
        )


if __name__ == "__main__":
    automations_app()
