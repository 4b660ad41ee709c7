"""The `samoflow` command line: the typer app, `init`, and every command registered by name."""


from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from samoflow.cli.common import (
    RepoOption,
    console,
    project_config,
)
from samoflow.project import write_config

app = typer.Typer(help="Autonomous coding-agent sessions on Prefect.", no_args_is_help=True)


@app.command()
def init(
    repo: RepoOption = Path("."),
    from_samocode: Annotated[
        Path | None, typer.Option(help="A .samocode file: the same folders in .samoflow.toml.")
    ] = None,
) -> None:
    """Write .samoflow.toml (main repo, worktrees, sessions) in a git repository."""
    if from_samocode is not None:
        from samoflow.cli.samocode import init_from_samocode

        console.print(f"wrote {init_from_samocode(from_samocode)}")
        return
    project_config(repo)
    path = write_config(repo.resolve())
    console.print(f"wrote {path}")


def _register_commands() -> None:
    """Commands that live in modules of their own (each owns one concept)."""
    from samoflow.cli import answer as cli_answer
    from samoflow.cli import automations as cli_automations
    from samoflow.cli import convoy as cli_convoy
    from samoflow.cli import economy as cli_economy
    from samoflow.cli import hold as cli_hold
    from samoflow.cli import inbox as cli_inbox
    from samoflow.cli import limits as cli_limits
    from samoflow.cli import listen as cli_listen
    from samoflow.cli import monitor as cli_monitor
    from samoflow.cli import prompt as cli_prompt
    from samoflow.cli import served as cli_served
    from samoflow.cli import session as cli_session
    from samoflow.cli import status as cli_status

    app.command()(cli_session.run)
    app.command()(cli_status.status)
    app.command()(cli_answer.answer)
    app.command("demo-session")(cli_session.demo)
    app.command()(cli_inbox.send)
    app.command()(cli_hold.stop)
    app.command()(cli_hold.pause)
    app.command()(cli_hold.resume)
    app.command()(cli_listen.listen)
    app.command()(cli_economy.budget)
    app.command()(cli_prompt.prompt)

    app.command()(cli_served.up)
    app.command()(cli_served.down)
    app.command()(cli_monitor.monitor)
    app.command()(cli_convoy.convoy)
    app.command()(cli_convoy.clean)
    app.command()(cli_convoy.convoys)
    app.command("demo")(cli_convoy.demo_convoy)
    app.add_typer(cli_automations.automations_app, name="automations")
    app.add_typer(cli_limits.limits_app, name="limits")


_register_commands()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
