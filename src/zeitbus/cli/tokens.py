"""``zeitbus token``: API tokens for the HTTP API (docs/http-api.md, "Tokens")."""

from __future__ import annotations

import click

from zeitbus.cli.app import State, cli, pass_state
from zeitbus.cli.parsing import format_time


@cli.group("token")
def token() -> None:
    """Make, list and revoke the HTTP API's tokens.

    A token is shown once, when it is made; the log keeps only its digest.
    Scopes: read (queries, the changes feed), write (also insert and
    delete), admin (everything).
    """


@token.command("create")
@click.option(
    "--scope",
    type=click.Choice(["read", "write", "admin"]),
    default="read",
    show_default=True,
    help="What the token may do.",
)
@click.option("--name", default="", help="A note to tell tokens apart (e.g. the script's name).")
@pass_state
def create(state: State, scope: str, name: str) -> None:
    """Make a token and print it (it is not shown again)."""
    text, info = state.engine().create_token(scope, name)
    click.echo(text)
    click.echo(f"zeitbus: token {info.id} ({info.scope.label}) made; keep it now", err=True)


@token.command("list")
@pass_state
def list_tokens(state: State) -> None:
    """List the tokens: id, scope, when made, name (never the secret)."""
    for info in state.engine().list_tokens():
        click.echo(f"{info.id}  {info.scope.label:<5}  {format_time(info.created)}  {info.name}")


@token.command("revoke")
@click.argument("token_id")
@pass_state
def revoke(state: State, token_id: str) -> None:
    """Revoke the token with this id (the 8 hex digits after zbt_)."""
    state.engine().revoke_token(token_id)
    click.echo(f"revoked {token_id}")
