"""The small data set the shared contract suite runs against (synthetic).

One EUR policy (business unit ``ACI``, policy ``CONTRACT-P1``, no extension); four
companies with check-digit-valid but made-up VAT numbers and fictional names. Company
900000001 has an ``Agreement`` cover; 900000002 an ``AlreadyAgreed`` one with an older
limit before it; 900000003 no cover but a request ``InProgress``; 900000004 nothing
(for cover requests). Four portfolio entries (900000002's older limit is one). With
Allianz every request is asynchronous: ``small_amount`` and ``referred_amount`` both come
back pending and are decided ``decision_delay`` seconds later.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tci_gateway.adapters.contract_testing import ContractFixture
from tci_gateway.adapters.sandbox_support import insurer_contract_fixture

BUSINESS_UNIT = "ACI"
POLICY_ID = "CONTRACT-P1"
POLICY = {"businessUnitCode": BUSINESS_UNIT, "policyId": POLICY_ID}
NAMES = {
    "900000001": ("Contract Alpha SARL", "FR", "FR11123456782"),
    "900000002": ("Contract Beta GmbH", "DE", "DE123456788"),
    "900000003": ("Contract Gamma SAS", "FR", "FR14987654324"),
    "900000004": ("Contract Delta GmbH", "DE", "DE876543219"),
}


def _company(company_id: str) -> dict[str, Any]:
    name, country, vat = NAMES[company_id]
    return {
        "companyId": company_id,
        "legalData": {"companyName": name},
        "address": {
            "streetName": "1 Contract Street",
            "town": "Exampleville",
            "countryCode": country,
            "postCodes": [{"postCodeValue": "00001"}],
        },
        "companyIdentifiers": [{"idTypeCode": "VAT", "idValue": vat}],
    }


def _limit(amount: int, code: str, start: str) -> dict[str, Any]:
    return {
        "amount": Decimal(amount),
        "currencyCode": "EUR",
        "startDate": start,
        "decisionDate": f"{start}T10:30:00Z",
        "technicalDecisionStatusCode": code,
    }


def _cover(cover_id: str, company_id: str, *limits: dict[str, Any]) -> dict[str, Any]:
    name, country, _vat = NAMES[company_id]
    return {
        "coverId": cover_id,
        "company": {"companyId": company_id, "companyName": name, "countryCode": country},
        "policy": dict(POLICY),
        "creditLimitsAggregation": {"currencyCode": "EUR", "creditLimits": list(limits)},
        "lastUpdateDate": f"{limits[-1]['startDate']}T10:30:00Z",
    }


def contract_seed() -> dict[str, Any]:
    """The seed (same format as :meth:`.sandbox.AllianzSandbox.seed`)."""
    return {
        "policies": [{**POLICY, "currencyCode": "EUR"}],
        "companies": [_company(company_id) for company_id in NAMES],
        "covers": [
            _cover("7100001", "900000001", _limit(50000, "Agreement", "2024-02-02")),
            _cover(
                "7100002",
                "900000002",
                _limit(20000, "Agreement", "2023-06-01"),
                _limit(30000, "AlreadyAgreed", "2024-02-02"),
            ),
        ],
        "coverRequests": [
            {
                "requestId": "5100001",
                "requestTypeCode": "Primary",
                "policy": dict(POLICY),
                "companyId": "900000003",
                "company": {"companyId": "900000003", "companyName": NAMES["900000003"][0]},
                "creditLimitDetails": {"requestedAmount": Decimal(150000), "currencyCode": "EUR"},
                "creationDate": "2024-03-01T12:00:00Z",
                "lastUpdateDate": "2024-03-01T12:00:00Z",
                "coverId": None,
                "requestStatusCode": "InProgress",
                "customerReference": "contract-seed-0001",
            }
        ],
    }


def contract_fixture(token_ttl: float, token_path: str, decision_delay: float) -> ContractFixture:
    """What the contract suite should find in :func:`contract_seed`."""
    return insurer_contract_fixture(
        external_ref={"business_unit_code": BUSINESS_UNIT, "policy_id": POLICY_ID},
        known_buyer_id="900000001",
        uncovered_buyer_id="900000004",
        portfolio_size=4,
        token_ttl=token_ttl,
        token_path=token_path,
        decision_delay=decision_delay,
    )
