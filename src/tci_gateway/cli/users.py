"""``tci users create|list|password|role|disable``: the people who sign in to the web
workspace (``tci serve``)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tci_gateway.cli.output import Col, Grid
from tci_gateway.cli.state import state_of as _state

if TYPE_CHECKING:
    from tci_gateway.ledger import users


users_app = typer.Typer(help="People who sign in to the web workspace.", no_args_is_help=True)

RoleOption = Annotated[
    str,
    typer.Option(
        "--role",
        help="viewer (reads), analyst (requests cover, decides review links, confirms "
        "filings) or manager (also people and API keys).",
    ),
]
PasswordStdin = Annotated[
    bool,
    typer.Option(
        "--password-stdin",
        help="Read the password from the first line of standard input (scripts); "
        "else it is asked for twice on the terminal.",
    ),
]


def _password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        return line.rstrip("\r\n")
    if not sys.stdin.isatty():
        raise typer.BadParameter(
            "no terminal to ask for the password on: pass --password-stdin and write it "
            "to standard input",
            param_hint="--password-stdin",
        )
    value: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return value


@users_app.command("create")
def users_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The name they sign in with.")],
    role: RoleOption = "viewer",
    email: Annotated[
        str | None, typer.Option(help="Where their alert e-mails go (they can change it).")
    ] = None,
    password_stdin: PasswordStdin = False,
) -> None:
    """Create a person who signs in to the workspace, with a password (argon2-hashed)."""
    from tci_gateway.ledger import users
    from tci_gateway.ledger.web_tables import Role

    state = _state(ctx)
    if role not in {r.value for r in Role}:
        known = ", ".join(r.value for r in Role)
        raise typer.BadParameter(f"unknown role {role!r} (known: {known})", param_hint="--role")
    password = _password(password_stdin)
    ledger = state.wiring().ledger()
    try:
        with ledger.unit_of_work() as session:
            user = users.create_user(session, name, role, password, now=state.now(), email=email)
    except users.UserError as exc:
        raise typer.BadParameter(str(exc)) from None
    finally:
        ledger.dispose()
    if state.json:
        state.output.emit_json(_user_json(user))
        return
    state.output.out.print(f"user {user.name} created ({user.role.value})", markup=False)
    state.output.info("they sign in at the address `tci serve` prints")


@users_app.command("list")
def users_list(ctx: typer.Context) -> None:
    """List the people who may sign in (never their passwords)."""
    from tci_gateway.ledger import users

    state = _state(ctx)
    ledger = state.wiring().ledger()
    try:
        with ledger.reading() as session:
            found = users.list_users(session)
    finally:
        ledger.dispose()
    if state.json:
        state.output.emit_json([_user_json(u) for u in found])
        return
    if not found:
        state.output.info("no users: create one with `tci users create NAME --role analyst`")
        return
    grid = Grid(
        "Users",
        [Col("name"), Col("role", fixed=True), Col("e-mail"), Col("state", fixed=True)],
    )
    for u in found:
        last = u.last_login_at.strftime("%Y-%m-%d %H:%M") if u.last_login_at else "never"
        grid.add_row(
            u.name,
            u.role.value,
            u.email or "",
            "disabled" if u.disabled_at else f"last sign-in {last}",
        )
    state.output.table(grid)


@users_app.command("password")
def users_password(ctx: typer.Context, name: str, password_stdin: PasswordStdin = False) -> None:
    """Set a new password; every session of that person ends."""
    from tci_gateway.ledger import users

    state = _state(ctx)
    password = _password(password_stdin)
    _change(ctx, lambda s: users.set_password(s, name, password, now=state.now()), "password set")


@users_app.command("role")
def users_role(ctx: typer.Context, name: str, role: str) -> None:
    """Give a person another role (viewer, analyst or manager)."""
    from tci_gateway.ledger import users

    _change(ctx, lambda s: users.set_role(s, name, role), "role set")


@users_app.command("disable")
def users_disable(ctx: typer.Context, name: str) -> None:
    """Disable a person: they cannot sign in and their sessions end now."""
    from tci_gateway.ledger import users

    state = _state(ctx)
    _change(ctx, lambda s: users.disable_user(s, name, now=state.now()), "disabled")


def _change(ctx: typer.Context, change: Any, done: str) -> None:
    from tci_gateway.ledger import users

    state = _state(ctx)
    ledger = state.wiring().ledger()
    try:
        with ledger.unit_of_work() as session:
            user = change(session)
    except users.UserError as exc:
        raise typer.BadParameter(str(exc)) from None
    finally:
        ledger.dispose()
    if state.json:
        state.output.emit_json(_user_json(user))
    else:
        state.output.out.print(f"user {user.name}: {done} ({user.role.value})", markup=False)


def _user_json(user: users.User) -> dict[str, Any]:
    def iso(value: datetime | None) -> str | None:
        return value.astimezone(UTC).isoformat() if value else None

    return {
        "name": user.name,
        "role": user.role.value,
        "email": user.email,
        "created_at": iso(user.created_at),
        "last_login_at": iso(user.last_login_at),
        "disabled_at": iso(user.disabled_at),
    }


def register(app: typer.Typer) -> None:
    app.add_typer(users_app, name="users")
