"""A small portfolio for the ERP endpoints' tests: buyers pushed through the API, covers
synced from a fake insurer into the sandbox configuration's ``atradius-main`` policy."""

from __future__ import annotations

import dataclasses
from datetime import date
from typing import Any

from sqlalchemy import func, select

from tci_gateway.domain.cover import CoverStatus
from tci_gateway.ledger.api_tables import AuditRow
from tci_gateway.ledger.tables import ImportRow, OpenItemRow
from tci_gateway.services.sync import sync_limits

from ..services.fakes import FakeInsurer, decision, entry
from .conftest import ApiHarness

MAIN = "atradius-main"
OTHER = "allianz-aci"

BUYERS = [
    {"erp_account": "A1", "name": "Alpha GmbH", "country": "DE", "policy": MAIN,
     "vat": "DE136695976", "insurer_ids": "atradius:1"},
    {"erp_account": "A2", "name": "Alpha Süd", "country": "DE", "policy": MAIN,
     "vat": "DE136695976"},
    {"erp_account": "B1", "name": "=Beta Ltd", "country": "GB", "policy": MAIN,
     "insurer_ids": "atradius:2"},
    {"erp_account": "C1", "name": "Gamma SA", "country": "FR", "policy": MAIN,
     "insurer_ids": "atradius:3"},
    {"erp_account": "D1", "name": "Delta BV", "country": "NL", "policy": MAIN},
    {"erp_account": "E1", "name": "Epsilon Srl", "country": "IT", "policy": OTHER},
    {"erp_account": "F1", "name": "Phi AG", "country": "CH", "policy": OTHER},
]  # fmt: skip


def item(account: str, number: str, amount: str = "1000.00", **extra: Any) -> dict[str, Any]:
    """One open invoice in the canonical JSON."""
    return {
        "erp_account": account,
        "document_number": number,
        "kind": "INVOICE",
        "document_date": "2026-10-01",
        "due_date": "2026-12-30",
        "currency": "EUR",
        "amount": amount,
        "open_amount": amount,
        **extra,
    }


def portfolio(*, gamma_ends: date | None = date(2026, 12, 20)) -> FakeInsurer:
    """Alpha covered 70,000 (over its exposure below), Beta refused, Gamma 50,000 until
    ``gamma_ends`` (a change by date)."""
    gamma = decision("50000", ref="X3")
    if gamma_ends is not None:
        gamma = dataclasses.replace(gamma, effective_to=gamma_ends)
    return FakeInsurer(
        items=[
            entry("1", decision("70000", ref="X1")),
            entry("2", decision("0", status=CoverStatus.REFUSED, ref="X2")),
            entry("3", gamma),
        ]
    )


def seed(api: ApiHarness, insurer: FakeInsurer | None = None) -> dict[str, str]:
    """Push the buyers (and a few open items) through the API, sync the covers; answers
    an admin key's headers."""
    admin = api.key("admin")
    answer = api.client.post("/v1/buyers", json={"buyers": BUYERS}, headers=admin)
    assert answer.status_code == 200, answer.text
    items = [item("A1", "I1", "60000.00"), item("A2", "I2", "25000.00"), item("B1", "I3")]
    answer = api.client.post("/v1/open-items", json=items, headers=admin)
    assert answer.status_code == 200, answer.text
    sync(api, insurer or portfolio())
    return admin


def sync(api: ApiHarness, insurer: FakeInsurer) -> None:
    policy = api.ctx.settings.domain_policies()[MAIN]
    sync_limits(api.ledger, insurer, policy, now=api.ctx.now())


def counts(api: ApiHarness) -> tuple[int, int, int]:
    """(open items, imports, audit rows) in the ledger."""
    with api.ledger.reading() as session:
        return (
            int(session.scalar(select(func.count()).select_from(OpenItemRow)) or 0),
            int(session.scalar(select(func.count()).select_from(ImportRow)) or 0),
            int(session.scalar(select(func.count()).select_from(AuditRow)) or 0),
        )
