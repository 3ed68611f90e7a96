"""Allianz wire -> domain mapping: every status code in the tables, overrides, unknown
codes, amounts, effective dates, pending requests, identifiers and companies."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from tci_adapters.allianz.mapping import (
    JOB_FAILED,
    JOB_PENDING,
    JOB_PROCESSED,
    OBSERVED_CODES,
    STATUS_CODES,
    MappingError,
    country_alpha2,
    map_company,
    map_cover,
    map_identifier,
    map_pending_request,
    parse_status_overrides,
    request_state,
    resolve_code,
)
from tci_adapters.allianz.options import ID_TYPE_CODES
from tci_adapters.allianz.wire import Company, Cover, CoverRequestRecord, SearchResult
from tci_gateway.domain.cover import CoverStatus, PendingAction, covered_limit
from tci_gateway.domain.identifiers import Identifier, Scheme
from tci_gateway.domain.money import Money
from tci_gateway.http.jsonexact import loads

from .conftest import FIXTURES

S = CoverStatus


def eur(amount: str | int) -> Money:
    return Money(Decimal(amount), "EUR")


def limit(
    code: str | None = "Agreement", amount: Any = Decimal(50000), **extra: Any
) -> dict[str, Any]:
    record = {
        "amount": amount,
        "currencyCode": "EUR",
        "startDate": "2024-01-15",
        "decisionDate": "2024-01-15T10:00:00+01:00",
        "technicalDecisionStatusCode": code,
    }
    record.update(extra)
    return {k: v for k, v in record.items() if v is not None}


def cover(*limits: dict[str, Any], **extra: Any) -> Cover:
    record: dict[str, Any] = {
        "coverId": 8000001,
        "company": {"companyId": 400000001, "companyName": "Exemple SAS", "countryCode": "FR"},
        "policy": {"businessUnitCode": "ACI", "policyId": "5550001"},
        "creditLimitsAggregation": {
            "currencyCode": "EUR",
            "creditLimits": list(limits) or [limit()],
        },
        "lastUpdateDate": "2024-01-15T10:00:00+01:00",
    }
    record.update(extra)
    return Cover.from_record(record)


# Every code in STATUS_CODES, with what it must mean (SYNTHETIC ones included).
STATUS_TABLE = [
    ("Agreement", S.APPROVED),
    ("AlreadyAgreed", S.APPROVED),
    ("InProgress", S.PENDING),
    ("Pending", S.PENDING),
    ("PartialAgreement", S.PARTIALLY_APPROVED),
    ("Refusal", S.REFUSED),
    ("Reduction", S.REDUCED),
    ("Withdrawal", S.WITHDRAWN),
    ("Cancellation", S.WITHDRAWN),
    ("Expiry", S.EXPIRED),
]


def test_the_tests_cover_every_code_in_the_table() -> None:
    assert {code for code, _ in STATUS_TABLE} == set(STATUS_CODES)
    assert set(STATUS_CODES) >= OBSERVED_CODES
    assert {"pending"} == JOB_PENDING and {"processed"} == JOB_PROCESSED
    assert not (JOB_FAILED & (JOB_PENDING | JOB_PROCESSED))


@pytest.mark.parametrize(("code", "status"), STATUS_TABLE)
def test_every_status_code(code: str, status: CoverStatus) -> None:
    decision = map_cover(cover(limit(code)), "EUR")
    assert decision.status is status
    assert decision.unknown_codes == ()
    assert decision.raw_codes["technicalDecisionStatusCode"] == code
    assert resolve_code(code) == (status, ())


@pytest.mark.parametrize(("code", "status"), STATUS_TABLE)
def test_codes_are_read_case_insensitively_and_kept_raw(code: str, status: CoverStatus) -> None:
    decision = map_cover(cover(limit(code.upper())), "EUR")
    assert decision.status is status
    assert decision.raw_codes["technicalDecisionStatusCode"] == code.upper()


def test_unknown_code_is_pending_listed_and_kept() -> None:
    decision = map_cover(cover(limit("ZZ99")), "EUR")
    assert decision.status is S.PENDING
    assert decision.unknown_codes == ("ZZ99",)
    assert dict(decision.raw_codes) == {"technicalDecisionStatusCode": "ZZ99"}
    assert decision.granted_amount == eur(50000)  # the amount is still reported


@pytest.mark.parametrize(
    ("overrides", "code", "status"),
    [
        ({"Refusal": "WITHDRAWN"}, "Refusal", S.WITHDRAWN),
        ({"refusal": "withdrawn"}, "REFUSAL", S.WITHDRAWN),
        ({"ZZ99": "APPROVED"}, "ZZ99", S.APPROVED),
        ({"Agreement": "INDICATION_ONLY"}, "Agreement", S.INDICATION_ONLY),
    ],
)
def test_status_overrides(overrides: dict[str, str], code: str, status: CoverStatus) -> None:
    table = parse_status_overrides(overrides)
    decision = map_cover(cover(limit(code)), "EUR", status_overrides=table)
    assert decision.status is status
    assert decision.unknown_codes == ()


def test_bad_status_overrides() -> None:
    with pytest.raises(ValueError, match="NOPE"):
        parse_status_overrides({"Agreement": "NOPE"})
    with pytest.raises(ValueError, match="table"):
        parse_status_overrides(["Agreement"])  # type: ignore[arg-type, unused-ignore]
    assert parse_status_overrides(None) == {}


@pytest.mark.parametrize("code", ["Agreement", "AlreadyAgreed", "PartialAgreement", "Reduction"])
def test_amount_zero_is_refused(code: str) -> None:
    decision = map_cover(cover(limit(code, Decimal(0))), "EUR")
    assert decision.status is S.REFUSED
    assert decision.tranches == ()
    assert covered_limit(decision, date(2024, 6, 1)) == eur(0)


@pytest.mark.parametrize(("code", "status"), [("Withdrawal", S.WITHDRAWN), ("Expiry", S.EXPIRED)])
def test_amount_zero_keeps_an_ending_status(code: str, status: CoverStatus) -> None:
    assert map_cover(cover(limit(code, Decimal(0))), "EUR").status is status


def test_amounts_dates_and_tranche() -> None:
    decision = map_cover(cover(limit(amount=Decimal("100000.50"))), "EUR")
    assert decision.granted_amount == Money(Decimal("100000.50"), "EUR")
    assert decision.insurer_cover_ref == "8000001"
    assert decision.effective_from == date(2024, 1, 15)
    assert decision.effective_to is None
    assert decision.decided_at == datetime(2024, 1, 15, 9, 0, tzinfo=UTC)
    assert decision.last_changed_at == datetime(2024, 1, 15, 9, 0, tzinfo=UTC)
    assert decision.decided_at is not None and decision.decided_at.tzinfo is UTC
    assert [t.amount for t in decision.tranches] == [Money(Decimal("100000.50"), "EUR")]
    assert covered_limit(decision, date(2024, 1, 14)) == eur(0)
    assert covered_limit(decision, date(2024, 1, 15)) == Money(Decimal("100000.50"), "EUR")


def test_float_amounts_are_refused() -> None:
    with pytest.raises(ValidationError, match="exact number"):
        cover(limit(amount=100000.5))
    record = loads(
        b'{"coverId": 1, "companyId": 2, "creditLimitsAggregation": '
        b'{"creditLimits": [{"amount": 0.10, "startDate": "2024-01-01",'
        b' "technicalDecisionStatusCode": "Agreement"}]}}'
    )
    assert map_cover(Cover.from_record(record), "EUR").granted_amount == eur("0.10")


def test_latest_started_limit_governs() -> None:
    older = limit("Agreement", Decimal(60000), startDate="2023-05-01")
    newer = limit("Reduction", Decimal(40000), startDate="2024-03-15")
    decision = map_cover(cover(newer, older), "EUR")  # list order does not matter
    assert decision.status is S.REDUCED
    assert decision.granted_amount == eur(40000)
    same_day = limit("AlreadyAgreed", Decimal(40000), decisionDate="2024-01-15T12:00:00Z")
    assert map_cover(cover(same_day, limit()), "EUR").status is S.APPROVED
    assert map_cover(cover(limit(), same_day), "EUR").granted_amount == eur(40000)


def test_future_withdrawal_is_a_notice_while_the_limit_counts() -> None:
    live = limit("Agreement", Decimal(60000), startDate="2024-01-01")
    future = limit("Withdrawal", Decimal(0), startDate="2030-01-01")
    observed = datetime(2024, 4, 10, tzinfo=UTC)
    decision = map_cover(cover(live, future), "EUR", observed_at=observed)
    assert decision.status is S.APPROVED
    assert decision.pending_action is PendingAction.WITHDRAWAL_NOTICE
    assert decision.effective_to == date(2030, 1, 1)
    assert covered_limit(decision, date(2029, 12, 31)) == eur(60000)
    assert covered_limit(decision, date(2030, 1, 1)) == eur(0)
    # Without an observation time the latest limit is taken as it stands.
    assert map_cover(cover(live, future), "EUR").status is S.WITHDRAWN
    # A future increase is not a notice.
    raised = limit("Agreement", Decimal(90000), startDate="2030-01-01")
    later = map_cover(cover(live, raised), "EUR", observed_at=observed)
    assert later.pending_action is None and later.granted_amount == eur(60000)


def test_v2_cover_status_code_is_the_fallback() -> None:
    decision = map_cover(cover(limit(None), coverStatusCode="Agreement"), "EUR")
    assert decision.status is S.APPROVED
    assert dict(decision.raw_codes) == {"coverStatusCode": "Agreement"}


@pytest.mark.parametrize(
    ("record", "field"),
    [
        (cover(limit(None)), "creditLimits.technicalDecisionStatusCode"),
        (cover(limit(currencyCode="USD")), "currencyCode"),
        (
            cover(limit(startDate=None, decisionDate=None), lastUpdateDate=None),
            "creditLimits.startDate",
        ),
        (
            cover(creditLimitsAggregation={"creditLimits": []}),
            "creditLimitsAggregation.creditLimits",
        ),
    ],
)
def test_unmappable_covers(record: Cover, field: str) -> None:
    with pytest.raises(MappingError) as caught:
        map_cover(record, "EUR")
    assert caught.value.field == field


def test_start_falls_back_to_the_decision_date() -> None:
    decision = map_cover(cover(limit(startDate=None)), "EUR")
    assert decision.effective_from == date(2024, 1, 15)


def test_a_cover_needs_a_company() -> None:
    with pytest.raises(ValidationError, match="companyId"):
        Cover.from_record({"coverId": "1", "creditLimitsAggregation": {"creditLimits": []}})
    flat = Cover.from_record({"coverId": "1", "companyId": 42})
    assert flat.company_id == "42" and flat.company_name == "" and flat.limits == []


@pytest.mark.parametrize(
    ("code", "state"),
    [
        ("InProgress", "pending"),
        ("inprogress", "pending"),
        ("Pending", "pending"),
        ("Processed", "decided"),
        ("Completed", "decided"),
        ("Closed", "decided"),
        ("Cancelled", "closed"),
        ("Rejected", "closed"),
        ("SomethingNew", "pending"),
    ],
)
def test_request_states(code: str, state: str) -> None:
    assert request_state(code) == state


def _request(**extra: Any) -> CoverRequestRecord:
    record: dict[str, Any] = {
        "requestId": 5000007,
        "companyId": "400000007",
        "creditLimitDetails": {"requestedAmount": Decimal("150000.00"), "currencyCode": "EUR"},
        "creationDate": "2024-04-02T11:00:00Z",
        "lastUpdateDate": "2024-04-03T08:00:00Z",
        "requestStatusCode": "InProgress",
    }
    record.update(extra)
    return CoverRequestRecord.from_record(record)


def test_request_in_progress_is_a_pending_decision() -> None:
    decision = map_pending_request(_request(), "EUR")
    assert decision.status is S.PENDING
    assert decision.insurer_cover_ref == "request:5000007"
    assert decision.requested_amount == eur("150000.00")
    assert decision.granted_amount == eur(0)
    assert decision.effective_from == date(2024, 4, 2)
    assert decision.last_changed_at == datetime(2024, 4, 3, 8, 0, tzinfo=UTC)
    assert dict(decision.raw_codes) == {"requestStatusCode": "InProgress"}
    assert decision.unknown_codes == ()
    odd = map_pending_request(_request(requestStatusCode="Queued"), "EUR")
    assert odd.status is S.PENDING and odd.unknown_codes == ("Queued",)
    with pytest.raises(MappingError):
        map_pending_request(
            _request(creditLimitDetails={"requestedAmount": 1, "currencyCode": "USD"}), "EUR"
        )
    with pytest.raises(MappingError):
        map_pending_request(_request(creationDate=None, lastUpdateDate=None), "EUR")


# -- companies and identifiers ----------------------------------------------------------


@pytest.mark.parametrize(
    ("id_type", "value", "country", "expected"),
    [
        ("VAT", "11123456782", "FR", Identifier(Scheme.VAT, "FR11123456782")),
        ("VAT", "FR 11 123 456 782", "FR", Identifier(Scheme.VAT, "FR11123456782")),
        ("vat", "094259216", "GR", Identifier(Scheme.VAT, "EL094259216")),
        ("SIREN", "123 456 782", "FR", Identifier(Scheme.FR_SIREN, "123456782")),
        ("CRN", "1234567", "GB", Identifier(Scheme.GB_CRN, "01234567")),
        ("DUNS", "12-345-6789", "US", Identifier(Scheme.DUNS, "123456789")),
        ("LEI", "529900T8BM49AURSDO55", "NL", Identifier(Scheme.LEI, "529900T8BM49AURSDO55")),
        ("USCC", "91110000600037341L", "CN", Identifier(Scheme.CN_USCC, "91110000600037341L")),
        ("VAT", "FR00000000000", "FR", None),  # bad check digits: left out
        ("NACE", "4690", "FR", None),  # no domain scheme
        ("EH", "400000001", "FR", None),  # the buyer key, not an identifier
    ],
)
def test_identifiers(id_type: str, value: str, country: str, expected: Identifier | None) -> None:
    assert map_identifier(id_type, value, country, ID_TYPE_CODES) == expected


def test_identifier_codes_are_configurable() -> None:
    table = {**ID_TYPE_CODES, Scheme.FR_SIREN: "SRN"}
    assert map_identifier("SRN", "123456782", "FR", table) == Identifier(
        Scheme.FR_SIREN, "123456782"
    )
    assert map_identifier("SIREN", "123456782", "FR", table) is None


def test_companies_from_the_search_fixture() -> None:
    payload = loads((FIXTURES / "company_search.json").read_bytes())
    first = SearchResult.from_record(payload["results"][0])
    match = map_company(first.company, "allianz", ID_TYPE_CODES, "FR")
    assert match.insurer == "allianz"
    assert match.insurer_buyer_id == "400000001"
    assert match.name == "Exemple Industries SAS"
    assert match.country == "FR"
    assert match.identifiers == (
        Identifier(Scheme.VAT, "FR11123456782"),
        Identifier(Scheme.FR_SIREN, "123456782"),
        Identifier(Scheme.DUNS, "123456789"),
    )
    assert first.score == 100 and "communicationChannels" in first.raw
    bare = map_company(Company.from_record({"companyId": 7}), "allianz", ID_TYPE_CODES, "DE")
    assert (bare.country, bare.name, bare.identifiers) == ("DE", "", ())


@pytest.mark.parametrize(
    ("code", "expected"), [("FR", "FR"), ("fra", "FR"), ("GBR", "GB"), ("XX", None), (None, None)]
)
def test_countries(code: str | None, expected: str | None) -> None:
    assert country_alpha2(code) == expected
