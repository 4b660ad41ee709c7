"""`samoflow limits`: every account, its state and reset; resume one or raise its budget."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from samoflow.cli.common import console, fail, reach_prefect, show_table
from samoflow.names import validate_slug

limits_app = typer.Typer(
    help="Accounts: paused by a usage limit or a daily budget, resumed at the reset.",
    invoke_without_command=True,
)


def _connect() -> None:
    """The one way to reach Prefect (the served API, PREFECT_API_URL, the local server)."""
    reach_prefect()


@limits_app.callback()
def show(ctx: typer.Context) -> None:
    """Accounts, their state, the reset and the day's spend."""
    if ctx.invoked_subcommand is not None:
        return
    _connect()
    from samoflow.tasks.account_store import list_statuses

    statuses = list_statuses()
    if not statuses:
        console.print("no account has been used yet")
        return
    table = Table("account", "state", "cause", "until (UTC)", "waiting", "today", "reason")
    for s in statuses:
        until = f"{s.until:%Y-%m-%d %H:%M:%S}" if s.until else ""
        spent = f"${s.spent_usd:.4f}, {s.spent_tokens:,} tok" if s.day else ""
        cause = s.cause.value if s.cause else ""
        table.add_row(
            s.account, s.state.value, cause, until, str(len(s.waiting)), spent, s.reason[:60]
        )
    show_table(table)


@limits_app.command()
def resume(account: Annotated[str, typer.Argument(help="The account to resume now.")]) -> None:
    """Resume a paused account by hand: its waiting sessions go on."""
    name = validate_slug(account, "account name")
    _connect()
    from samoflow.economy.accounts import AccountState, resumed
    from samoflow.tasks.account_store import update_status

    before, _ = update_status(name, resumed)
    if before.state is AccountState.ACTIVE:
        fail(f"account {name} is not paused (`samoflow limits` lists the accounts)")
    console.print(f"account {name} resumed; its waiting sessions go on")


@limits_app.command()
def budget(
    account: Annotated[str, typer.Argument(help="The account whose daily caps to set.")],
    usd: Annotated[float | None, typer.Option(help="Daily cap in USD.")] = None,
    tokens: Annotated[int | None, typer.Option(help="Daily cap in tokens.")] = None,
) -> None:
    """Set (raise) an account's daily budget; a budget pause the new caps lift ends."""
    name = validate_slug(account, "account name")
    if usd is None and tokens is None:
        fail("give --usd N and/or --tokens N")
    _connect()
    from samoflow.economy.daily_budget import raise_budget
    from samoflow.settings import get_settings
    from samoflow.tasks.account_store import update_status

    _, after = update_status(name, lambda s: raise_budget(s, usd, tokens, get_settings()))
    console.print(
        f"account {name}: daily budget ${after.budget_usd}, {after.budget_tokens} tokens;"
        f" state {after.state.value}"
    )
