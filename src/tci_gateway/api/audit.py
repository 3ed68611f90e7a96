"""The audit trail: every write through the API (key, time, request id, what changed).

Call :func:`record` inside the unit of work that makes the change when the route owns
it, or :func:`audit` after a service has committed its own.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from sqlalchemy.orm import Session

from tci_gateway.api.context import ApiContext
from tci_gateway.api.problems import request_id_of
from tci_gateway.ledger.api_keys import ApiKey
from tci_gateway.ledger.api_tables import AuditRow


def record(
    session: Session,
    ctx: ApiContext,
    request: Request,
    key: ApiKey | None,
    action: str,
    detail: dict[str, Any],
    *,
    status: int = 200,
    actor: str | None = None,
    path: str | None = None,
    user_id: int | None = None,
) -> None:
    """Add one audit row in ``session``'s transaction. ``detail`` is JSON: what changed
    (counts, ids, amounts as strings), never a secret; ``path`` replaces the request's
    when that carries one (an insurer callback's token); ``user_id`` and ``actor`` name the
    person for a change made in the web workspace."""
    session.add(
        AuditRow(
            at=ctx.now(),
            api_key_id=key.id if key is not None else None,
            user_id=user_id,
            actor=actor or (key.name if key is not None else "anonymous"),
            request_id=request_id_of(request) or "",
            method=request.method,
            path=(path if path is not None else request.url.path)[:255],
            action=action,
            status=status,
            detail=detail,
        )
    )


def audit(
    ctx: ApiContext,
    request: Request,
    key: ApiKey | None,
    action: str,
    detail: dict[str, Any],
    *,
    status: int = 200,
) -> None:
    """:func:`record` in a transaction of its own."""
    with ctx.ledger.unit_of_work() as session:
        record(session, ctx, request, key, action, detail, status=status)
