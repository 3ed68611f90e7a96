"""Who is signed in, and what they may do: the session cookie, roles and CSRF.

Routes take these as dependencies::

    @router.get("/buyers")
    def buyers(request: Request, ctx: Ctx, me: Viewer) -> HTMLResponse: ...

    @router.post("/buyers/{buyer_id}/cover")
    def request_cover(ctx: Ctx, me: Analyst, action: Annotated[str, Form()]) -> Response: ...

:data:`Viewer` asks for any live session (a page without one redirects to the sign-in
page). :data:`Analyst` and :data:`Manager` are for forms: they ask for the role *and* for
the form's ``csrf_token`` field to equal the session's token (403 otherwise, in words a
person can act on). :data:`Member` is any signed-in person's own form (their alert
preferences, signing out): CSRF-checked, no role needed.
"""

from __future__ import annotations

import hmac
from datetime import timedelta
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request

from tci_gateway.api.context import ApiContext, Ctx
from tci_gateway.api.problems import Problem
from tci_gateway.ledger.users import SignedIn, find_session, touch_session
from tci_gateway.ledger.web_tables import Role

COOKIE = "tci_session"
CSRF_FIELD = "csrf_token"
_TOUCH_EVERY = timedelta(minutes=1)


class SignInRequired(Exception):
    """No live session: a page answers with a redirect to the sign-in page."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def login_url(next_path: str) -> str:
    return "/login" if next_path in ("", "/") else f"/login?next={quote(next_path, safe='/')}"


def secure_cookies(request: Request, ctx: ApiContext) -> bool:
    """``Secure`` on the cookie: ``[web] secure_cookies``, else when served over https."""
    configured = ctx.settings.web.secure_cookies
    if configured is not None:
        return configured
    return request.url.scheme == "https" or ctx.settings.api.public_url.startswith("https://")


def current_session(request: Request, ctx: Ctx) -> SignedIn | None:
    """The request's live session, or ``None``. Refreshes its idle clock at most once a
    minute (a write per page view would serialise every reader on SQLite)."""
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    web = ctx.settings.web
    now = ctx.now()
    with ctx.ledger.reading() as session:
        found = find_session(
            session, token, now=now, idle=timedelta(minutes=web.session_idle_minutes)
        )
    if found is None:
        return None
    if now - found.last_seen_at > _TOUCH_EVERY:
        with ctx.ledger.unit_of_work() as session:
            touch_session(session, found.session_id, now=now)
    return found


OptionalSession = Annotated[SignedIn | None, Depends(current_session)]


def signed_in(request: Request, found: OptionalSession) -> SignedIn:
    """A live session, or a redirect to the sign-in page (back here afterwards)."""
    if found is None:
        path = request.url.path
        if request.url.query:
            path += "?" + request.url.query
        raise SignInRequired(path if request.method == "GET" else "/")
    return found


Viewer = Annotated[SignedIn, Depends(signed_in)]


async def _form_token(request: Request) -> str:
    form = await request.form()
    value = form.get(CSRF_FIELD)
    return value if isinstance(value, str) else ""


def check_csrf(me: SignedIn, given: str) -> None:
    if not given or not hmac.compare_digest(given, me.csrf_token):
        raise Problem(
            403,
            "the form's security token is missing or belongs to another session; "
            "reload the page and submit it again",
            title="Form refused",
        )


def _role(needed: Role | None):  # type: ignore[no-untyped-def]
    async def dependency(request: Request, me: Viewer) -> SignedIn:
        check_csrf(me, await _form_token(request))
        if needed is not None and not me.user.may(needed):
            raise Problem(
                403,
                f"{me.user.name} is a {me.user.role.value}; this needs the "
                f"{needed.value} role (ask a manager)",
                title="Not allowed",
            )
        return me

    return dependency


Member = Annotated[SignedIn, Depends(_role(None))]
Analyst = Annotated[SignedIn, Depends(_role(Role.ANALYST))]
Manager = Annotated[SignedIn, Depends(_role(Role.MANAGER))]


def manager_page(me: Viewer) -> SignedIn:
    """A page only a manager may see (people, API keys): 403 for the others."""
    if not me.user.may(Role.MANAGER):
        raise Problem(403, f"{me.user.name} is a {me.user.role.value}; this page is for managers")
    return me


ManagerPage = Annotated[SignedIn, Depends(manager_page)]
