"""The service with its workspace: the HTTP API of :mod:`tci_gateway.api.app` plus the
pages, their static files and HTML error pages.

Errors on a page are the API's own errors (the same handlers decide status and words),
drawn as a page instead of a problem document: a person reads "no buyer 12" where a
client reads ``{"status": 404, "detail": "no buyer 12"}``. No page shows a traceback.
"""

from __future__ import annotations

import html
import json
from collections.abc import Awaitable, Callable
from importlib.resources import files
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from tci_gateway.api.app import create_app
from tci_gateway.api.background import PeriodicTask
from tci_gateway.api.context import ApiContext
from tci_gateway.web import render, routes
from tci_gateway.web.session import SignInRequired, current_session, login_url

# Paths that belong to the API (problem documents); every other path is the workspace's.
API_PATHS = ("/v1/", "/healthz", "/readyz", "/metrics", "/openapi.json", "/docs")
# Sent with every page: nothing from elsewhere, no inline script, no framing.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}
Handler = Callable[[Request, Exception], Awaitable[Response]]


def is_page(request: Request) -> bool:
    path = request.url.path
    return path != "/v1" and not path.startswith(API_PATHS)


def create_service(ctx: ApiContext, *, background: bool = True) -> FastAPI:
    """The API and, unless ``[web] enabled = false``, the workspace over ``ctx``."""
    app = create_app(ctx, background=background)
    if ctx.settings.web.enabled:
        install(app, ctx)
    return app


def install(app: FastAPI, ctx: ApiContext) -> None:
    """Add the workspace to ``app``: routes, static files, HTML errors, headers."""
    runner = app.state.background
    for module in routes.modules():
        router = getattr(module, "router", None)
        if router is not None:
            app.include_router(router, include_in_schema=False)
        tasks: Callable[[ApiContext], list[PeriodicTask]] | None
        tasks = getattr(module, "background_tasks", None)
        for task in tasks(ctx) if tasks is not None else ():
            runner.add(task.name, task.interval, task.run)
    static = files("tci_gateway.web") / "static"
    app.mount("/static", StaticFiles(directory=str(static)), name="static")
    _html_errors(app)

    @app.middleware("http")
    async def _headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]):  # type: ignore[no-untyped-def]
        response = await call_next(request)
        if is_page(request):
            for name, value in SECURITY_HEADERS.items():
                response.headers.setdefault(name, value)
            if not request.url.path.startswith("/static/"):
                response.headers.setdefault("Cache-Control", "no-store")
        return response


def _html_errors(app: FastAPI) -> None:
    """Wrap every exception handler the API installed: on a page, the problem document
    it would answer becomes an error page with the same status and words."""
    for exc_class, handler in list(app.exception_handlers.items()):
        app.exception_handlers[exc_class] = _for_pages(handler)

    async def _sign_in(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, SignInRequired)
        return RedirectResponse(login_url(exc.next_path), status_code=303)

    app.exception_handlers[SignInRequired] = _sign_in


def _for_pages(handler: Any) -> Handler:
    async def wrapped(request: Request, exc: Exception) -> Response:
        response: Response = await handler(request, exc)
        if not is_page(request):
            return response
        try:
            problem = json.loads(bytes(response.body))
        except ValueError:
            return response
        return error_page(request, response.status_code, problem, response.headers)

    return wrapped


def error_page(
    request: Request, status: int, problem: dict[str, Any], headers: Any = None
) -> HTMLResponse:
    """The error page for ``problem`` (a problem document's fields)."""
    try:
        signed_in = current_session(request, request.app.state.ctx)
    except Exception:  # the ledger may be what failed: the page still renders
        signed_in = None
    kept = {k: v for k, v in dict(headers or {}).items() if k.lower() in ("retry-after", "allow")}
    title = str(problem.get("title") or "Error")
    detail = str(problem.get("detail") or "")
    try:
        return render.page(
            request,
            "error.html",
            signed_in,
            status_code=status,
            title=title,
            headers=kept,
            status=status,
            detail=detail,
            errors=problem.get("errors") or [],
            retry_after=kept.get("retry-after", ""),
        )
    except Exception:  # never a traceback: the plainest page that says what happened
        text = html.escape(f"{title} ({status}): error: {detail}")
        return HTMLResponse(f"<!doctype html><title>{text}</title><p>{text}</p>", status, kept)
