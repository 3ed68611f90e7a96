"""``Idempotency-Key`` on POST: a replay gets the stored response, never a second effect.

The first request with a key records the request's fingerprint (method, path, query and
body) before it runs, in its own committed transaction, so that a concurrent request
with the same key, on any instance sharing the ledger, finds it: 409 while the first is
in flight, the stored answer once it has finished (with ``Idempotent-Replayed: true``).
The same key with a different request is refused (422). A request that fails (4xx, 5xx
or an exception) releases its key, so the client may retry with the same key. A record
left in flight by a killed process is taken over after ``STALE_AFTER``. Records are
kept ``[api] idempotency_hours``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Header, Request, Response
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from tci_gateway.api.context import ApiContext
from tci_gateway.api.problems import Problem
from tci_gateway.ledger.api_keys import ApiKey
from tci_gateway.ledger.api_tables import IdempotencyRow

STALE_AFTER = timedelta(minutes=10)
_KEPT_HEADERS = ("location", "etag", "content-location")

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="A unique key per logical request: a replay returns the stored response.",
    ),
]


async def _raw_body(request: Request) -> bytes:
    return await request.body()


# The request's raw bytes, for a plain ``def`` route (FastAPI runs those in a thread
# pool; an ``async def`` route must not call the ledger, which blocks, on the event loop).
RawBody = Annotated[bytes, Depends(_raw_body)]


def fingerprint(request: Request, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (request.method, request.url.path, request.url.query):
        digest.update(part.encode())
        digest.update(b"\0")
    digest.update(body)
    return digest.hexdigest()


def _stored(row: IdempotencyRow) -> Response:
    headers = dict(row.headers or {})
    headers["Idempotent-Replayed"] = "true"
    return Response(
        content=(row.body or "").encode(),
        status_code=row.status or 200,
        media_type=row.media_type,
        headers=headers,
    )


def _claim(
    ctx: ApiContext, key: ApiKey, idem_key: str, request: Request, print_: str
) -> Response | None:
    """Record the key as in flight (``None``), or the answer for a key seen before."""
    now = ctx.now()
    kept = timedelta(hours=ctx.settings.api.idempotency_hours)
    with ctx.ledger.unit_of_work() as session:
        session.execute(
            delete(IdempotencyRow).where(
                IdempotencyRow.api_key_id == key.id, IdempotencyRow.created_at < now - kept
            )
        )
        row = session.scalar(
            select(IdempotencyRow)
            .where(IdempotencyRow.api_key_id == key.id, IdempotencyRow.idem_key == idem_key)
            .with_for_update()
        )
        if row is not None:
            if row.request_sha256 != print_:
                raise Problem(
                    422,
                    "this Idempotency-Key was used with a different request; "
                    "use a new key for a new request",
                )
            if row.status is not None:
                return _stored(row)
            if now - row.created_at < STALE_AFTER:
                raise Problem(
                    409,
                    "a request with this Idempotency-Key is still in progress",
                    headers={"Retry-After": "2"},
                )
            row.created_at = now  # left in flight by a process that died: take it over
            return None
        session.add(
            IdempotencyRow(
                api_key_id=key.id,
                idem_key=idem_key,
                method=request.method,
                path=request.url.path[:255],
                request_sha256=print_,
                created_at=now,
            )
        )
    return None


def _release(ctx: ApiContext, key: ApiKey, idem_key: str) -> None:
    with ctx.ledger.unit_of_work() as session:
        session.execute(
            delete(IdempotencyRow).where(
                IdempotencyRow.api_key_id == key.id,
                IdempotencyRow.idem_key == idem_key,
                IdempotencyRow.status.is_(None),
            )
        )


def _store(ctx: ApiContext, key: ApiKey, idem_key: str, response: Response) -> None:
    body = bytes(response.body).decode("utf-8", errors="replace")
    headers = {k: v for k, v in response.headers.items() if k.lower() in _KEPT_HEADERS}
    with ctx.ledger.unit_of_work() as session:
        row = session.scalar(
            select(IdempotencyRow).where(
                IdempotencyRow.api_key_id == key.id, IdempotencyRow.idem_key == idem_key
            )
        )
        if row is not None:
            row.status = response.status_code
            row.media_type = response.media_type
            row.headers = headers
            row.body = body
            row.completed_at = ctx.now()


def idempotent(
    ctx: ApiContext,
    request: Request,
    key: ApiKey,
    idem_key: str | None,
    body: bytes,
    handler: Callable[[], Response],
) -> Response:
    """Run ``handler`` once per ``idem_key`` (when given) and answer its stored response
    to replays. ``handler`` must return a fully rendered :class:`Response` (its body is
    what is stored)."""
    if idem_key is None:
        return handler()
    try:
        replay = _claim(ctx, key, idem_key, request, fingerprint(request, body))
    except IntegrityError:  # another instance inserted the same key a moment ago
        raise Problem(
            409,
            "a request with this Idempotency-Key is still in progress",
            headers={"Retry-After": "2"},
        ) from None
    if replay is not None:
        return replay
    try:
        response = handler()
    except BaseException:
        _release(ctx, key, idem_key)
        raise
    if 200 <= response.status_code < 300:
        _store(ctx, key, idem_key, response)
    else:
        _release(ctx, key, idem_key)
    return response
