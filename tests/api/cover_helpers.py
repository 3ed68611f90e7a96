"""Shared by the cover-request and insurer-hook API tests: buyers the Allianz sandbox
knows (companies 400000009, 10 and 12 have no cover and no request in progress), a request
body, and handles on the sandbox and the ledger rows."""

from __future__ import annotations

import itertools
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from tci_gateway.ledger.api_tables import AuditRow, InsurerHookRow
from tci_gateway.ledger.tables import CoverRequestRow
from tci_gateway.services.importing import import_buyers

from .conftest import AS_OF, ApiHarness

POLICY = "allianz-aci"
FREE_COMPANIES = ("400000009", "400000010", "400000012")
_keys = itertools.count(1)


def add_buyers(api: ApiHarness, tmp_path: Path) -> None:
    """ERP accounts B9, B10, B12 for the sandbox's companies 400000009, 10, 12, and A1 for
    an Atradius buyer."""
    lines = ["erp_account,name,country,policy,insurer_ids"]
    for company in FREE_COMPANIES:
        lines.append(f"B{int(company[-2:])},Buyer {company} SA,FR,{POLICY},allianz:{company}")
    lines.append("A1,Atradius Buyer SA,FR,atradius-main,atradius:1000001")
    path = tmp_path / "buyers.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    import_buyers(api.ledger, path, policies=api.ctx.settings.domain_policies(), now=api.ctx.now())


def body(buyer: str = "B9", amount: str | None = "30000.00", **more: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"policy": POLICY, "buyer": buyer, "action": "new"}
    if amount is not None:
        out |= {"amount": amount, "currency": "EUR"}
    return out | more


def post(
    api: ApiHarness, headers: dict[str, str], payload: dict[str, Any], key: str | None = None
) -> httpx.Response:
    """POST a cover request with a fresh Idempotency-Key (or ``key``)."""
    idem = key if key is not None else f"idem-{next(_keys)}"
    return api.client.post(
        "/v1/cover-requests", json=payload, headers=headers | {"Idempotency-Key": idem}
    )


def sandbox(api: ApiHarness) -> Any:
    """The in-process Allianz sandbox behind the API's adapter."""
    return api.ctx.wiring.insurer("allianz").sandbox


def decide(api: ApiHarness) -> None:
    """Let the sandbox decide what it holds (at its next call)."""
    sb = sandbox(api)
    sb.advance(2 * sb.book.decision_delay.total_seconds() + 1)


def later(api: ApiHarness, seconds: float) -> None:
    """Move the API's clock on."""
    api.ctx.as_of = (api.ctx.as_of or AS_OF) + timedelta(seconds=seconds)


def job_polls(api: ApiHarness) -> int:
    """GET jobs/... calls the sandbox answered."""
    return sum(n for (m, p), n in sandbox(api).received.items() if m == "GET" and "/jobs/" in p)


def rows(api: ApiHarness) -> list[CoverRequestRow]:
    with api.ledger.reading() as s:
        found = list(s.scalars(select(CoverRequestRow).order_by(CoverRequestRow.id)))
        s.expunge_all()
        return found


def hooks(api: ApiHarness) -> list[InsurerHookRow]:
    with api.ledger.reading() as s:
        found = list(s.scalars(select(InsurerHookRow).order_by(InsurerHookRow.id)))
        s.expunge_all()
        return found


def audits(api: ApiHarness, action: str) -> list[AuditRow]:
    with api.ledger.reading() as s:
        found = list(s.scalars(select(AuditRow).where(AuditRow.action == action)))
        s.expunge_all()
        return found
