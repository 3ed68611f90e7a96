"""Coface wire -> domain mapping: every decision code in the table, unknown codes,
overrides, amounts, dates and tranches; overdue statuses."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from tci_adapters.coface.mapping import (
    DECISION_CODES,
    OVERDUE_STATUSES,
    MappingError,
    is_pending,
    map_credit_limit,
    map_overdue_status,
    resolve_status,
)
from tci_adapters.coface.options import parse_status_overrides
from tci_adapters.coface.portfolio import entries
from tci_adapters.coface.wire import CreditLimit
from tci_gateway.adapters.contract import PortfolioEntry
from tci_gateway.domain.cover import CoverStatus, covered_limit
from tci_gateway.domain.money import Money
from tci_gateway.errors import RecordError
from tci_gateway.http.jsonexact import loads

from .helpers import FIXTURES

S = CoverStatus


def limit(**fields: Any) -> CreditLimit:
    record: dict[str, Any] = {
        "orderId": "8000001",
        "easyNumber": "71234567",
        "companyName": "Exemple SAS",
        "decisionCode": "AGREED",
        "amount": Decimal("50000.00"),
        "currency": "EUR",
        "requestedAmount": Decimal("50000.00"),
        "effectiveDate": "2024-01-15",
        "decisionDate": "2024-01-15T10:00:00+01:00",
        "orderDate": "2024-01-10T08:00:00Z",
    }
    record.update(fields)
    return CreditLimit.from_record({k: v for k, v in record.items() if v is not None})


def eur(amount: str | int) -> Money:
    return Money(Decimal(amount), "EUR")


CODES = [
    ("AGREED", S.APPROVED),
    ("FULL_AGREEMENT", S.APPROVED),
    ("PARTIAL_AGREEMENT", S.PARTIALLY_APPROVED),
    ("REFUSED", S.REFUSED),
    ("REDUCED", S.REDUCED),
    ("CANCELLED", S.WITHDRAWN),
    ("STOPPED", S.WITHDRAWN),
    ("EXPIRED", S.EXPIRED),
    ("IN_PROGRESS", S.PENDING),
    ("PENDING", S.PENDING),
    ("INDICATION", S.INDICATION_ONLY),
]

OVERDUES = [
    ("RECEIVED", "SUBMITTED"),
    ("REGISTERED", "ACKNOWLEDGED"),
    ("IN_PROGRESS", "ACKNOWLEDGED"),
    ("ACCEPTED", "ACCEPTED"),
    ("REJECTED", "REJECTED"),
    ("CLOSED", "CLOSED"),
]


def test_the_tests_cover_every_code_in_the_tables() -> None:
    assert {code for code, _ in CODES} == set(DECISION_CODES)
    assert {code for code, _ in OVERDUES} == set(OVERDUE_STATUSES)


@pytest.mark.parametrize(("code", "status"), CODES)
def test_decision_codes(code: str, status: CoverStatus) -> None:
    decision = map_credit_limit(limit(decisionCode=code), "EUR")
    assert decision.status is status
    assert decision.unknown_codes == ()
    assert dict(decision.raw_codes) == {"decisionCode": code}
    assert decision.granted_amount == eur(50000)
    assert is_pending(limit(decisionCode=code)) is (status is S.PENDING)


@pytest.mark.parametrize(("code", "status"), CODES)
def test_codes_are_read_case_insensitively_and_kept_raw(code: str, status: CoverStatus) -> None:
    decision = map_credit_limit(limit(decisionCode=code.lower()), "EUR")
    assert decision.status is status
    assert decision.raw_codes["decisionCode"] == code.lower()


@pytest.mark.parametrize("code", ["ZZ99", "AGREED_WITH_CONDITIONS", "DC01"])
def test_unknown_codes_are_pending_and_listed(code: str) -> None:
    decision = map_credit_limit(limit(decisionCode=code), "EUR")
    assert decision.status is S.PENDING
    assert decision.unknown_codes == (code,)
    assert decision.raw_codes["decisionCode"] == code
    assert is_pending(limit(decisionCode=code))  # keep polling; the alert says why
    # the amount the record carries is kept (the sync raises an alert, nothing is lost)
    assert decision.granted_amount == eur(50000)


def test_status_overrides() -> None:
    overrides = parse_status_overrides(
        {"agreed": "reduced", "ZZ99": "APPROVED", "INDICATION": "PENDING"}
    )
    assert resolve_status("AGREED", overrides) == (S.REDUCED, ())
    known = map_credit_limit(limit(decisionCode="zz99"), "EUR", status_overrides=overrides)
    assert known.status is S.APPROVED and known.unknown_codes == ()
    assert map_credit_limit(
        limit(decisionCode="INDICATION"), "EUR", status_overrides=overrides
    ).status is (S.PENDING)
    untouched = map_credit_limit(limit(decisionCode="REFUSED"), "EUR", status_overrides=overrides)
    assert untouched.status is S.REFUSED


@pytest.mark.parametrize("raw", [{"AGREED": "NOPE"}, ["AGREED"], {"AGREED": ""}])
def test_bad_status_overrides(raw: Any) -> None:
    with pytest.raises(ValueError, match="status_overrides"):
        parse_status_overrides(raw)


@pytest.mark.parametrize("code", ["AGREED", "FULL_AGREEMENT", "PARTIAL_AGREEMENT", "REDUCED"])
def test_zero_amount_is_a_refusal(code: str) -> None:
    decision = map_credit_limit(limit(decisionCode=code, amount=Decimal("0.00")), "EUR")
    assert decision.status is S.REFUSED
    assert decision.tranches == ()
    assert covered_limit(decision, date(2024, 6, 1)) == eur(0)


def test_missing_amount_on_an_agreement_is_a_refusal() -> None:
    record = limit(amount=None)
    assert map_credit_limit(record, "EUR").status is S.REFUSED


@pytest.mark.parametrize(("code", "status"), [("CANCELLED", S.WITHDRAWN), ("ZZ99", S.PENDING)])
def test_zero_amount_does_not_hide_an_ended_or_unknown_status(
    code: str, status: CoverStatus
) -> None:
    assert map_credit_limit(limit(decisionCode=code, amount=0), "EUR").status is status


def test_refused_increase_keeps_counting_the_amount_in_force() -> None:
    decision = map_credit_limit(
        limit(decisionCode="REFUSED", amount=Decimal(40000), requestedAmount=Decimal(90000)),
        "EUR",
    )
    assert decision.status is S.REFUSED
    assert decision.requested_amount == eur(90000)
    assert covered_limit(decision, date(2024, 6, 1)) == eur(40000)


def test_tranche_from_amount_and_expiry_date() -> None:
    decision = map_credit_limit(limit(expiryDate="2025-01-15"), "EUR")
    [tranche] = decision.tranches
    assert tranche.amount == eur(50000)
    assert tranche.valid_from == date(2024, 1, 15)
    assert tranche.expires_on == date(2025, 1, 15)
    assert covered_limit(decision, date(2025, 1, 14)) == eur(50000)
    assert covered_limit(decision, date(2025, 1, 15)) == eur(0)  # conservatively not on it
    assert covered_limit(decision, date(2024, 1, 14)) == eur(0)


def test_dates_and_references() -> None:
    decision = map_credit_limit(limit(endDate="2024-06-30"), "EUR")
    assert decision.insurer_cover_ref == "8000001"
    assert decision.effective_from == date(2024, 1, 15)
    assert decision.effective_to == date(2024, 6, 30)
    assert decision.decided_at == datetime(2024, 1, 15, 9, 0, tzinfo=UTC)
    assert decision.last_changed_at == datetime(2024, 1, 15, 9, 0, tzinfo=UTC)
    assert covered_limit(decision, date(2024, 6, 30)) == eur(0)
    no_order = map_credit_limit(limit(orderId=None), "EUR")
    assert no_order.insurer_cover_ref == "71234567"


def test_effective_date_falls_back_to_decision_then_order_date() -> None:
    by_decision = map_credit_limit(limit(effectiveDate=None), "EUR")
    assert by_decision.effective_from == date(2024, 1, 15)
    pending = map_credit_limit(
        limit(decisionCode="IN_PROGRESS", effectiveDate=None, decisionDate=None, amount=None),
        "EUR",
    )
    assert pending.effective_from == date(2024, 1, 10)
    assert pending.status is S.PENDING and pending.granted_amount == eur(0)
    assert pending.requested_amount == eur(50000)
    assert pending.decided_at is None


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"decisionCode": None}, "decisionCode"),
        ({"currency": "USD"}, "currency"),
        ({"effectiveDate": None, "decisionDate": None, "orderDate": None}, "effectiveDate"),
    ],
)
def test_unmappable_records(fields: dict[str, Any], field: str) -> None:
    with pytest.raises(MappingError) as caught:
        map_credit_limit(limit(**fields), "EUR")
    assert caught.value.field == field


@pytest.mark.parametrize(
    "fields", [{"amount": 1.5}, {"amount": True}, {"amount": -1}, {"easyNumber": None}]
)
def test_wire_refuses_inexact_or_missing_values(fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        limit(**fields)


def test_raw_record_is_kept_exactly() -> None:
    record = limit(amount=Decimal("100000.00"))
    assert '"amount":100000.00' in record.raw


def test_portfolio_pages_from_the_fixtures() -> None:
    items = []
    for number, offset in ((1, 0), (2, 3), (3, 6)):
        records = loads((FIXTURES / f"portfolio_page_{number}.json").read_bytes())["creditLimits"]
        items += list(entries(records, offset, "EUR"))
    by_buyer = {i.insurer_buyer_id: i for i in items if isinstance(i, PortfolioEntry)}
    assert {k: v.decision.status for k, v in by_buyer.items()} == {
        "71234567": S.APPROVED,
        "71234568": S.APPROVED,
        "71234572": S.PARTIALLY_APPROVED,
        "71234573": S.REFUSED,
        "71234574": S.REDUCED,
        "71234575": S.WITHDRAWN,
        "71234576": S.INDICATION_ONLY,
        "71234577": S.PENDING,
    }
    assert by_buyer["71234567"].buyer_country == "FR"
    assert by_buyer["71234567"].buyer_name == "Exemple Industries SAS"
    assert by_buyer["71234572"].decision.requested_amount == eur(120000)
    assert covered_limit(by_buyer["71234575"].decision, date(2024, 3, 4)) == eur(0)


def test_unreadable_records_are_errors_as_data() -> None:
    records = loads((FIXTURES / "portfolio_bad_records.json").read_bytes())["creditLimits"]
    items = list(entries(records, 40, "EUR"))
    good = [i for i in items if isinstance(i, PortfolioEntry)]
    errors = [i for i in items if isinstance(i, RecordError)]
    assert [e.insurer_buyer_id for e in good] == ["71234581"]
    assert {(e.row, e.column) for e in errors} == {
        (41, "amount"),
        (42, "easyNumber"),
        (43, "currency"),
        (44, "decisionCode"),
        (45, "countryCode"),
    }
    assert all(e.source == "coface credit-limits" for e in errors)
    assert "buyer 71234582" in next(e.reason for e in errors if e.row == 41)


@pytest.mark.parametrize(("raw", "status"), OVERDUES)
def test_overdue_statuses(raw: str, status: str) -> None:
    assert map_overdue_status(raw) == status
    assert map_overdue_status(raw.lower()) == status


def test_overdue_statuses_unknown_normalised_and_overridden() -> None:
    assert map_overdue_status("FILED") is None
    assert map_overdue_status("ACKNOWLEDGED") == "ACKNOWLEDGED"  # already normalised
    assert map_overdue_status("FILED", {"FILED": "ACKNOWLEDGED"}) == "ACKNOWLEDGED"
    assert map_overdue_status("RECEIVED", {"RECEIVED": "ACKNOWLEDGED"}) == "ACKNOWLEDGED"
