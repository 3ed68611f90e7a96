"""Who may do what: API keys with scopes, a per-key rate limit.

A request presents its key as ``Authorization: Bearer tci_...``. No key, an unknown,
revoked or expired one: 401. A key without the route's scope: 403. Above
``[api] rate_limit_per_minute`` for the key (per process): 429 with ``Retry-After``.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from tci_gateway.api.context import ApiContext, Ctx
from tci_gateway.api.problems import Problem
from tci_gateway.ledger.api_keys import SCOPES, ApiKey, authenticate, touch

_bearer = HTTPBearer(auto_error=False, description="An API key: `tci keys create`")
_TOUCH_EVERY = timedelta(minutes=1)


class RateLimiter:
    """A token bucket per key: ``per_minute`` requests a minute, bursts up to that many.
    Per process: N processes allow N times the rate (documented in docs/api.md)."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._buckets: dict[int, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key_id: int) -> float:
        """0 when the request may go on, else the seconds to wait before the next one."""
        rate = self.per_minute / 60.0
        with self._lock:
            now = self._clock()
            tokens, at = self._buckets.get(key_id, (float(self.per_minute), now))
            tokens = min(float(self.per_minute), tokens + (now - at) * rate)
            if tokens < 1.0:
                self._buckets[key_id] = (tokens, now)
                return (1.0 - tokens) / rate
            self._buckets[key_id] = (tokens - 1.0, now)
            return 0.0


def _unauthorized(detail: str) -> Problem:
    return Problem(401, detail, headers={"WWW-Authenticate": 'Bearer realm="tci"'})


def current_key(
    request: Request,
    ctx: Ctx,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> ApiKey:
    """The request's API key, checked to be active and within its rate limit."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise _unauthorized("an API key is required in the Authorization header (scheme: Bearer)")
    now = ctx.now()
    with ctx.ledger.reading() as session:
        key = authenticate(session, credentials.credentials)
    if key is None:
        raise _unauthorized("the API key is not valid")
    if not key.active(now):
        what = "revoked" if key.revoked_at is not None else "expired"
        raise _unauthorized(f"the API key {key.name!r} is {what}")
    if key.last_used_at is None or now - key.last_used_at > _TOUCH_EVERY:
        with ctx.ledger.unit_of_work() as session:
            touch(session, key.id, now)
    wait = _limiter(request, ctx).take(key.id)
    if wait > 0:
        raise Problem(
            429,
            f"rate limit of {ctx.settings.api.rate_limit_per_minute} requests a minute "
            f"for key {key.name!r} reached",
            headers={"Retry-After": str(max(1, math.ceil(wait)))},
        )
    request.state.api_key = key
    return key


def _limiter(request: Request, ctx: ApiContext) -> RateLimiter:
    limiter = getattr(request.app.state, "rate_limiter", None)
    if not isinstance(limiter, RateLimiter):
        limiter = RateLimiter(ctx.settings.api.rate_limit_per_minute)
        request.app.state.rate_limiter = limiter
    return limiter


def require(scope: str) -> Callable[[ApiKey], ApiKey]:
    """A dependency: the request's key, which must have ``scope`` (or ``admin``)."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}")

    def dependency(key: Annotated[ApiKey, Depends(current_key)]) -> ApiKey:
        if not key.allows(scope):
            raise Problem(403, f"the API key {key.name!r} lacks the scope {scope!r}")
        return key

    dependency.__name__ = f"require_{scope.replace(':', '_')}"
    return dependency


def check_policy(key: ApiKey, policy: str) -> None:
    """403 unless the key may act on ``policy``."""
    if not key.allows_policy(policy):
        raise Problem(403, f"the API key {key.name!r} is not allowed policy {policy!r}")
