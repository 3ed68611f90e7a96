"""Every change made in the browser goes to the API's audit table, with the person's name
as the actor and their user id (``api_key_id`` stays empty)."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from sqlalchemy.orm import Session

from tci_gateway.api import audit as api_audit
from tci_gateway.api.context import ApiContext
from tci_gateway.ledger.users import SignedIn


def record(
    session: Session,
    ctx: ApiContext,
    request: Request,
    me: SignedIn,
    action: str,
    detail: dict[str, Any],
    *,
    status: int = 200,
) -> None:
    """One audit row in ``session``'s transaction (the one making the change)."""
    api_audit.record(
        session,
        ctx,
        request,
        None,
        action,
        detail,
        status=status,
        actor=me.user.name,
        user_id=me.user.id,
    )


def audit(
    ctx: ApiContext,
    request: Request,
    me: SignedIn,
    action: str,
    detail: dict[str, Any],
    *,
    status: int = 200,
) -> None:
    """:func:`record` in a transaction of its own, after a service committed its change."""
    with ctx.ledger.unit_of_work() as session:
        record(session, ctx, request, me, action, detail, status=status)
