"""The ASGI application: :func:`create_app` builds it from the wiring.

Every request gets a request id (``X-Request-ID``: the client's when it is a plain token,
else a new one), bound to the log context and echoed in the response and in problem
documents. Bodies above ``[api] max_body_bytes`` are refused with 413 before they are
read whole. CORS is off unless ``[api] cors_origins`` lists origins.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from typing import Any

import structlog
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from tci_gateway import __version__
from tci_gateway.api import problems
from tci_gateway.api.background import BackgroundRunner, PeriodicTask
from tci_gateway.api.context import ApiContext
from tci_gateway.api.metrics import install as install_metrics
from tci_gateway.api.metrics import observe_request
from tci_gateway.api.openapi import install as install_openapi
from tci_gateway.api.routes import (
    behaviour,
    buyer_activity,
    buyers,
    cases,
    cover,
    credit,
    erp,
    health,
    hooks,
    metrics,
    review,
    runs,
    subscriptions,
)
from tci_gateway.logs import get_logger

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
ROUTERS = (
    health.router,
    metrics.router,
    erp.router,
    buyers.router,
    buyer_activity.router,
    cover.router,
    review.router,
    cases.router,
    credit.router,
    behaviour.router,
    runs.router,
    subscriptions.router,
    hooks.router,
)
# Where the periodic work of a serving process comes from (outbox relays): each answers
# its tasks for a context.
BACKGROUND: tuple[Callable[[ApiContext], list[PeriodicTask]], ...] = (
    cover.background_tasks,
    subscriptions.background_tasks,
)


class RequestContextMiddleware:
    """Request id, body size limit and one ``api_request`` log line per request."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        given = headers.get("x-request-id", "")
        request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status_holder = {"status": 500}
        limit = self.max_body_bytes

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"],
                    (b"x-request-id", request_id.encode()),
                ]
            await send(message)

        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > limit:
            await _too_large(scope, send_with_id, request_id, limit)
            observe_request(scope, 413, time.perf_counter() - started)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyTooLarge()
            return message

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                await self.app(scope, limited_receive, send_with_id)
            except _BodyTooLarge:
                await _too_large(scope, send_with_id, request_id, limit)
            finally:  # counted even when an error escapes (a 500)
                observe_request(scope, status_holder["status"], time.perf_counter() - started)
            get_logger().info(
                "api_request",
                method=scope["method"],
                path=scope["path"],
                status=status_holder["status"],
                ms=round((time.perf_counter() - started) * 1000, 1),
            )


class _BodyTooLarge(Exception):
    pass


async def _too_large(scope: Scope, send: Send, request_id: str, limit: int) -> None:
    body = (
        '{"type":"about:blank","title":"Content too large","status":413,'
        f'"detail":"the request body is larger than {limit} bytes",'
        f'"instance":"{scope["path"]}","request_id":"{request_id}"}}'
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", problems.PROBLEM_MEDIA_TYPE.encode()),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def create_app(ctx: ApiContext, *, background: bool = True) -> FastAPI:
    """The service over ``ctx`` (one ledger and one set of adapters per process). With
    ``background`` (the default) the periodic tasks run in threads while the app is up;
    tests pass ``False`` and run them with ``app.state.background.tick(name)``."""
    runner = BackgroundRunner()
    for source in BACKGROUND:
        for task in source(ctx):
            runner.add(task.name, task.interval, task.run)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if background:
            runner.start()
        try:
            yield
        finally:
            runner.stop()
            # Jobs run on demand (POST /v1/jobs/{id}/run) get a while to finish; one
            # still running then lapses its lease and the scheduler resumes it.
            manual = getattr(_app.state, "manual_runs", None)
            if manual is not None:
                manual.wait(30.0)

    app = FastAPI(
        lifespan=lifespan,
        title="tci-gateway",
        version=__version__,
        summary="Trade-credit insurance gateway: covered limits, open items, cover "
        "requests, deadlines and cases for the ERP and the risk team.",
        docs_url="/docs",
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.ctx = ctx
    app.state.background = runner
    problems.install(app)
    for router in ROUTERS:
        app.include_router(router)
    install_openapi(app)
    install_metrics()
    api = ctx.settings.api
    if api.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=api.cors_origins,
            allow_methods=["GET", "POST", "PUT", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "If-None-Match"],
            expose_headers=["ETag", "Location", "Retry-After", "X-Request-ID"],
        )
    app.add_middleware(RequestContextMiddleware, max_body_bytes=api.max_body_bytes)
    return app
