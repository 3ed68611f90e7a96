"""People and API keys, for managers: who signs in and with which role, and the keys the
ERP and other systems call the API with.

The same rules as ``tci users`` and ``tci keys`` (the ledger's :mod:`users` and
:mod:`api_keys` decide them and word their refusals), plus two of the workspace's own: a
manager cannot disable themself, and the last active manager can be neither disabled nor
given another role (someone must still be able to manage people). A new key's secret is
shown once, on the page that answers its form; only its hash is kept, and the audit row
names the key, never its secret.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tci_gateway.api.context import ApiContext, Ctx
from tci_gateway.ledger import api_keys, users
from tci_gateway.ledger.users import SignedIn
from tci_gateway.ledger.web_tables import Role, UserRow
from tci_gateway.web import audit
from tci_gateway.web.render import page
from tci_gateway.web.session import Manager, ManagerPage

router = APIRouter()

MAX_EXPIRY_DAYS = 3650
# What the page says after a change (Post/Redirect/Get: ``?done=KIND&name=NAME``).
DONE = {
    "created": "{name} can sign in now ({role}).",
    "role": "{name} is now a {role}.",
    "disabled": "{name} is disabled: they cannot sign in, and their sessions have ended.",
    "revoked": "Key {name} is revoked: the API refuses it from the next request on.",
}


class Refused(ValueError):
    """A change a manager may not make (themself, the last manager)."""


@router.get("/people", response_class=HTMLResponse)
def people(
    request: Request, ctx: Ctx, me: ManagerPage, done: str = "", name: str = "", role: str = ""
) -> Response:
    """Everyone who signs in and every API key, with the forms that change them."""
    message = ""
    if done in DONE and name:
        message = DONE[done].format(name=name, role=role or "")
    return _page(request, ctx, me, message=message)


def _page(
    request: Request,
    ctx: ApiContext,
    me: SignedIn,
    *,
    message: str = "",
    error: str = "",
    form: str = "",
    values: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    with ctx.ledger.reading() as session:
        people = users.list_users(session)
        keys = api_keys.list_keys(session)
    now = ctx.now()
    return page(
        request,
        "people.html",
        me,
        status_code=status,
        title="People & API keys",
        people=people,
        keys=[(k, key_state(k, now)) for k in keys],
        roles=[r.value for r in Role],
        scopes=sorted(api_keys.SCOPES.items()),
        policies=sorted(ctx.settings.policies),
        managers=_active_managers(people),
        message=message,
        error=error,
        form=form,
        values=values or {},
        max_expiry_days=MAX_EXPIRY_DAYS,
    )


def key_state(key: api_keys.ApiKey, now: Any) -> str:
    """``active``, ``expires 2027-01-31``, ``expired`` or ``revoked`` (as ``tci keys list``)."""
    if key.revoked_at is not None:
        return "revoked"
    if key.expires_at is not None and key.expires_at <= now:
        return "expired"
    return f"expires {key.expires_at:%Y-%m-%d}" if key.expires_at else "active"


def _active_managers(people: list[users.User]) -> int:
    return sum(1 for p in people if p.role is Role.MANAGER and p.disabled_at is None)


def _done(kind: str, name: str, role: str = "") -> RedirectResponse:
    query = {"done": kind, "name": name, **({"role": role} if role else {})}
    return RedirectResponse(f"/people?{urlencode(query)}", status_code=303)


@router.post("/people")
def create_person(
    request: Request,
    ctx: Ctx,
    me: Manager,
    name: Annotated[str, Form(max_length=64)],
    role: Annotated[str, Form(max_length=16)],
    password: Annotated[str, Form(max_length=1024)],
    email: Annotated[str, Form(max_length=320)] = "",
) -> Response:
    """A new person with a role and an initial password (they sign in with it)."""
    name = name.strip()
    email = email.strip()
    try:
        with ctx.ledger.unit_of_work() as session:
            user = users.create_user(
                session, name, role, password, now=ctx.now(), email=email or None
            )
            audit.record(
                session,
                ctx,
                request,
                me,
                "web_user_created",
                {"name": user.name, "role": user.role.value, "email": user.email},
            )
    except users.UserError as exc:
        values = {"name": name, "role": role, "email": email}  # never the password
        return _page(request, ctx, me, error=str(exc), form="person", values=values, status=422)
    return _done("created", user.name, user.role.value)


def _lock_managers(session: Session) -> int:
    """The number of active managers, their rows locked (PostgreSQL) until the change
    commits: two managers demoting each other at once cannot leave none. SQLite's
    writers are serialised by ``BEGIN IMMEDIATE`` already."""
    stmt = select(UserRow.id).where(UserRow.role == Role.MANAGER, UserRow.disabled_at.is_(None))
    if session.get_bind().dialect.name == "postgresql":
        return len(session.scalars(stmt.with_for_update()).all())
    return session.scalar(select(func.count()).select_from(stmt.subquery())) or 0


def _guard(session: Session, me: SignedIn, name: str, *, disabling: bool, role: str = "") -> None:
    """Refuse disabling oneself, and leaving no active manager."""
    if disabling and name == me.user.name:
        raise Refused("you cannot disable yourself; ask another manager")
    target = users.get_user(session, name)
    if target is None or target.role is not Role.MANAGER or target.disabled_at is not None:
        return  # the ledger reports an unknown name; a non-manager leaves the count alone
    if not disabling and role == Role.MANAGER.value:
        return
    if _lock_managers(session) <= 1:
        what = "disabled" if disabling else "given another role"
        raise Refused(
            f"{name} is the last manager and cannot be {what}; make someone else a manager first"
        )


@router.post("/people/{name}/role")
def change_role(
    request: Request,
    ctx: Ctx,
    me: Manager,
    name: str,
    role: Annotated[str, Form(max_length=16)],
) -> Response:
    """Give a person another role (their sessions keep going, with the new role)."""
    try:
        with ctx.ledger.unit_of_work() as session:
            _guard(session, me, name, disabling=False, role=role)
            before = users.get_user(session, name)
            user = users.set_role(session, name, role)
            audit.record(
                session,
                ctx,
                request,
                me,
                "web_user_role_changed",
                {
                    "name": user.name,
                    "role": user.role.value,
                    "previous_role": before.role.value if before else None,
                },
            )
    except (users.UserError, Refused) as exc:
        return _page(request, ctx, me, error=str(exc), status=_status(exc))
    return _done("role", user.name, user.role.value)


@router.post("/people/{name}/disable")
def disable_person(request: Request, ctx: Ctx, me: Manager, name: str) -> Response:
    """Disable a person: they cannot sign in and their sessions end now."""
    try:
        with ctx.ledger.unit_of_work() as session:
            _guard(session, me, name, disabling=True)
            user = users.disable_user(session, name, now=ctx.now())
            audit.record(session, ctx, request, me, "web_user_disabled", {"name": user.name})
    except (users.UserError, Refused) as exc:
        return _page(request, ctx, me, error=str(exc), status=_status(exc))
    return _done("disabled", user.name)


def _status(exc: Exception) -> int:
    if isinstance(exc, Refused):
        return 409
    return 404 if str(exc).startswith("no user named") else 422


@router.post("/people/keys")
def create_key(
    request: Request,
    ctx: Ctx,
    me: Manager,
    name: Annotated[str, Form(max_length=64)],
    scope: Annotated[list[str] | None, Form()] = None,
    policy: Annotated[list[str] | None, Form()] = None,
    expires_in_days: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    """A new API key; the answer page shows its secret, once (it cannot be shown again)."""
    name = name.strip()
    values = {"key_name": name, "scopes": scope or [], "policies": policy or [],
              "expires_in_days": expires_in_days}  # fmt: skip
    now = ctx.now()
    try:
        chosen = sorted(set(policy)) if policy else None
        if chosen:
            unknown = sorted(set(chosen) - set(ctx.settings.policies))
            if unknown:
                known = ", ".join(sorted(ctx.settings.policies)) or "none"
                raise api_keys.ApiKeyError(
                    f"unknown policy {', '.join(unknown)} (configured: {known})"
                )
        expires_at = None
        if expires_in_days.strip():
            days = _days(expires_in_days)
            expires_at = now + timedelta(days=days)
        with ctx.ledger.unit_of_work() as session:
            key, token = api_keys.create_key(
                session, name, list(scope or []), now=now, policies=chosen, expires_at=expires_at
            )
            audit.record(
                session,
                ctx,
                request,
                me,
                "web_key_created",
                {
                    "name": key.name,
                    "key_id": key.key_id,
                    "scopes": sorted(key.scopes),
                    "policies": sorted(key.policies) if key.policies is not None else None,
                    "expires_at": key.expires_at.isoformat() if key.expires_at else None,
                },
            )
    except api_keys.ApiKeyError as exc:
        return _page(request, ctx, me, error=str(exc), form="key", values=values, status=422)
    return page(
        request,
        "key_created.html",
        me,
        title=f"Key {key.name} created",
        key=key,
        token=token,
        state=key_state(key, now),
    )


def _days(text: str) -> int:
    try:
        days = int(text.strip())
    except ValueError:
        raise api_keys.ApiKeyError(
            f"the expiry is a number of days, not {text.strip()!r}"
        ) from None
    if not 1 <= days <= MAX_EXPIRY_DAYS:
        raise api_keys.ApiKeyError(f"the expiry is 1 to {MAX_EXPIRY_DAYS} days, not {days}")
    return days


@router.post("/people/keys/{name:path}/revoke")
def revoke_key(request: Request, ctx: Ctx, me: Manager, name: str) -> Response:
    """Revoke a key: the API refuses it (401) from the next request on."""
    try:
        with ctx.ledger.unit_of_work() as session:
            key = api_keys.revoke_key(session, name, ctx.now())
            audit.record(
                session,
                ctx,
                request,
                me,
                "web_key_revoked",
                {"name": key.name, "key_id": key.key_id},
            )
    except api_keys.ApiKeyError as exc:
        return _page(request, ctx, me, error=str(exc), status=404)
    return _done("revoked", key.name)
