"""Signing in and out.

The sign-in form is protected against cross-site posts like every other form: before
there is a session, its token is a random value in a short-lived cookie that the form must
repeat (double submit). A refused sign-in says only that the name or password was not
accepted, whatever the reason (unknown name, wrong password, disabled or locked account),
and is audited.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from tci_gateway.api.context import Ctx
from tci_gateway.api.problems import Problem
from tci_gateway.ledger.users import end_session, start_session, verify_login
from tci_gateway.web import audit
from tci_gateway.web.render import page
from tci_gateway.web.session import COOKIE, Member, OptionalSession, secure_cookies

router = APIRouter()
LOGIN_COOKIE = "tci_login"


def safe_next(value: str | None) -> str:
    """Where to go after signing in: a path on this site only (never ``//host``)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


@router.get("/login", response_class=HTMLResponse)
def login_form(
    request: Request, ctx: Ctx, found: OptionalSession, next: str | None = None
) -> Response:
    if found is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return _form(request, ctx, next_path=safe_next(next))


def _form(
    request: Request, ctx: Ctx, *, next_path: str, error: str = "", status: int = 200
) -> Response:
    token = secrets.token_urlsafe(24)
    response = page(
        request,
        "login.html",
        None,
        status_code=status,
        title="Sign in",
        login_token=token,
        next_path=next_path,
        error=error,
    )
    response.set_cookie(
        LOGIN_COOKIE,
        token,
        max_age=3600,
        httponly=True,
        samesite="strict",
        secure=secure_cookies(request, ctx),
        path="/login",
    )
    return response


@router.post("/login")
def login(
    request: Request,
    ctx: Ctx,
    name: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=1024)],
    csrf_token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    expected = request.cookies.get(LOGIN_COOKIE, "")
    if not expected or not hmac.compare_digest(expected, csrf_token):
        raise Problem(
            403,
            "the sign-in form's security token is missing or stale; reload the page and "
            "sign in again",
            title="Form refused",
        )
    now = ctx.now()
    web = ctx.settings.web
    with ctx.ledger.unit_of_work() as session:
        user = verify_login(session, name, password, now=now)
        if user is None:
            from tci_gateway.api.audit import record

            record(
                session,
                ctx,
                request,
                None,
                "web_sign_in_refused",
                {},
                status=401,
                actor=name[:64] or "anonymous",
            )
        else:
            token, signed_in = start_session(
                session, user, now=now, lifetime=timedelta(hours=web.session_hours)
            )
            audit.record(session, ctx, request, signed_in, "web_sign_in", {"role": user.role})
    if user is None:
        return _form(
            request,
            ctx,
            next_path=safe_next(next),
            error="The name or password was not accepted.",
            status=401,
        )
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(
        COOKIE,
        token,
        max_age=web.session_hours * 3600,
        httponly=True,
        samesite="lax",
        secure=secure_cookies(request, ctx),
        path="/",
    )
    response.delete_cookie(LOGIN_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(request: Request, ctx: Ctx, me: Member) -> Response:
    with ctx.ledger.unit_of_work() as session:
        end_session(session, me.session_id, now=ctx.now())
        audit.record(session, ctx, request, me, "web_sign_out", {})
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response
