"""Prometheus metrics (``GET /metrics``, :mod:`tci_gateway.api.metrics`).

It answers without a key by default, as scrape targets usually do: the figures are counts
and timings (no buyer, amount or secret), and the port is meant to be reached from the
operator's network only. ``[api] metrics_auth = true`` asks for a key with the
``metrics:read`` scope (or ``admin``), presented as for every other route.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import PlainTextResponse
from fastapi.security import HTTPAuthorizationCredentials
from fastapi.security.utils import get_authorization_scheme_param

from tci_gateway.api import metrics
from tci_gateway.api.context import ApiContext, Ctx
from tci_gateway.api.problems import Problem, problem_responses
from tci_gateway.api.security import current_key

router = APIRouter(tags=["operations"])

_TEXT = {"text/plain": {"schema": {"type": "string"}}}
_AUTH_ONLY = " (only with `[api] metrics_auth = true`)"


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    responses={
        200: {"description": "Prometheus text exposition format", "content": _TEXT},
        **{
            status: {**entry, "description": entry["description"] + _AUTH_ONLY}
            for status, entry in problem_responses(401, 403, 429).items()
        },
        **problem_responses(503),
    },
)
def get_metrics(request: Request, ctx: Ctx) -> Response:
    """Requests, latencies, insurer call errors (this instance's processes), sync and
    job outcomes and outbox depth (the ledger's), in Prometheus' text format."""
    if ctx.settings.api.metrics_auth:
        _authorise(request, ctx)
    return Response(metrics.render(ctx), media_type=metrics.CONTENT_TYPE)


def _authorise(request: Request, ctx: ApiContext) -> None:
    scheme, token = get_authorization_scheme_param(request.headers.get("Authorization"))
    credentials = (
        HTTPAuthorizationCredentials(scheme=scheme, credentials=token) if scheme and token else None
    )
    key = current_key(request, ctx, credentials)
    if not key.allows("metrics:read"):
        raise Problem(403, f"the API key {key.name!r} lacks the scope 'metrics:read'")
