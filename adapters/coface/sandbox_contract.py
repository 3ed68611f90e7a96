"""The small data set the shared contract suite runs against (SYNTHETIC).

One EUR contract; four companies with check-digit-valid but made-up identifiers and
fictional names. EasyNumber 7100001 has an agreement (and an older one it replaced);
7100002 a partial agreement with an expiry date; 7100003 an order still in progress;
7100004 no credit limit (for orders). Three portfolio entries.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tci_gateway.adapters.contract_testing import ContractFixture
from tci_gateway.adapters.sandbox_support import insurer_contract_fixture

POLICY_NUMBER = "CONTRACT-COF-1"

_NAMES = {
    "7100001": "Contract Alpha SARL",
    "7100002": "Contract Beta GmbH",
    "7100003": "Contract Gamma SAS",
    "7100004": "Contract Delta GmbH",
}


def _company(easy_number: str, country: str, identifiers: list[tuple[str, str]]) -> dict[str, Any]:
    return {
        "easyNumber": easy_number,
        "companyName": _NAMES[easy_number],
        "address": {"city": "Exampleville", "countryCode": country},
        "identifiers": [{"type": kind, "value": value} for kind, value in identifiers],
    }


def _limit(order_id: str, easy_number: str, code: str, amount: int, **extra: Any) -> dict[str, Any]:
    return {
        "policyNumber": POLICY_NUMBER,
        "orderId": order_id,
        "easyNumber": easy_number,
        "companyName": _NAMES[easy_number],
        "decisionCode": code,
        "amount": Decimal(amount),
        "currency": "EUR",
        "requestedAmount": Decimal(amount),
        "effectiveDate": "2024-02-02",
        "decisionDate": "2024-02-02T10:30:00+01:00",
        "orderDate": "2024-02-01T09:00:00Z",
        **extra,
    }


def contract_seed() -> dict[str, Any]:
    """The seed (the format of :meth:`.sandbox.CofaceSandbox.seed`)."""
    return {
        "policies": [
            {
                "policyNumber": POLICY_NUMBER,
                "currency": "EUR",
                "status": "ACTIVE",
                "startDate": "2024-01-01",
                "endDate": "2026-12-31",
            }
        ],
        "companies": [
            _company("7100001", "FRA", [("VAT", "FR11123456782"), ("SIREN", "123456782")]),
            _company("7100002", "DEU", [("VAT", "DE123456788")]),
            _company("7100003", "FRA", [("VAT", "FR14987654324")]),
            _company("7100004", "DEU", [("VAT", "DE876543219")]),
        ],
        "creditLimits": [
            _limit(
                "8100000",
                "7100001",
                "AGREED",
                40000,
                effectiveDate="2023-06-01",
                decisionDate="2023-06-01T08:00:00Z",
                orderDate="2023-05-30T08:00:00Z",
            ),
            _limit("8100001", "7100001", "AGREED", 50000),
            _limit(
                "8100002",
                "7100002",
                "PARTIAL_AGREEMENT",
                30000,
                requestedAmount=Decimal(60000),
                expiryDate="2030-12-31",
            ),
            {
                "policyNumber": POLICY_NUMBER,
                "orderId": "8100003",
                "easyNumber": "7100003",
                "companyName": _NAMES["7100003"],
                "decisionCode": "IN_PROGRESS",
                "currency": "EUR",
                "requestedAmount": Decimal(150000),
                "orderDate": "2024-03-01T12:00:00Z",
            },
        ],
    }


def contract_fixture(token_ttl: float, token_path: str, decision_delay: float) -> ContractFixture:
    """What the contract suite should find in :func:`contract_seed`."""
    return insurer_contract_fixture(
        external_ref={"policy_number": POLICY_NUMBER},
        known_buyer_id="7100001",
        uncovered_buyer_id="7100004",
        portfolio_size=3,
        token_ttl=token_ttl,
        token_path=token_path,
        decision_delay=decision_delay,
    )
