"""The small data set the shared contract suite runs against (synthetic).

One customer and one EUR policy; four buyers with check-digit-valid but made-up
identifiers and fictional names. Buyer 990001 has a decision, an older version ended
by ACLD and, in the history only, a first decision superseded (SCLD); 990002 has a DC21
advance notice of withdrawal; 990003 an application still REFERRED; 990004 no cover (for
cover requests). Four portfolio entries (990001's two versions), five in the history.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tci_gateway.adapters.contract_testing import ContractFixture
from tci_gateway.adapters.sandbox_support import insurer_contract_fixture

CUSTOMER_ID = "CONTRACT-C1"
POLICY_ID = "CONTRACT-P1"


def _buyer(buyer_id: int, name: str, country: str, vat: str) -> dict[str, Any]:
    return {
        "buyerId": buyer_id,
        "buyerName": name,
        "country": country,
        "uniqueIdentifiers": [{"uid": vat, "uidType": "VAT", "uidTypeDescription": "VAT number"}],
        "currentBuyerRating": "45",
        "currentBuyerRatingClass": "MEDIUM",
    }


def _decision(
    cover_id: int, buyer_id: int, name: str, code: str, amount: int, **extra: Any
) -> dict[str, Any]:
    return {
        "coverId": cover_id,
        "policyId": POLICY_ID,
        "customerId": CUSTOMER_ID,
        "buyerId": buyer_id,
        "buyerName": name,
        "coverType": "credit-limit",
        "coverStatus": "DECISION",
        "decisionCode": code,
        "creditLimitApplicationAmountInPolicyCurrency": Decimal(amount),
        "totalDecision": {
            "decisionAmtInPolicyCurrency": Decimal(amount),
            "decisionAmtInUserCurrency": Decimal(amount),
        },
        "applicationDate": "2024-02-01T09:00:00Z",
        "decisionDate": "2024-02-02T10:30:00+01:00",
        "effectFromDate": "2024-02-02",
        "policyCurrency": "EUR",
        **extra,
    }


def contract_seed() -> dict[str, Any]:
    """The seed (same format as :meth:`.sandbox.AtradiusSandbox.from_seed`)."""
    names = {
        990001: "Contract Alpha SARL",
        990002: "Contract Beta GmbH",
        990003: "Contract Gamma SAS",
        990004: "Contract Delta GmbH",
    }
    return {
        "customers": [
            {
                "customerId": CUSTOMER_ID,
                "policies": [
                    {
                        "policyId": POLICY_ID,
                        "policyCurrency": "EUR",
                        "policyStartDate": "2024-01-01",
                        "policyExpiryDate": "2026-12-31",
                    }
                ],
            }
        ],
        "buyers": [
            _buyer(990001, names[990001], "FRA", "FR11123456782"),
            _buyer(990002, names[990002], "DEU", "DE123456788"),
            _buyer(990003, names[990003], "FRA", "FR14987654324"),
            _buyer(990004, names[990004], "DEU", "DE876543219"),
        ],
        "covers": [
            _decision(
                880001,
                990001,
                names[990001],
                "DC01",
                40000,
                historicCode="ACLD",
                decisionDate="2023-06-01T08:00:00Z",
                effectFromDate="2023-06-01",
            ),
            _decision(880002, 990001, names[990001], "DC01", 50000),
            _decision(
                880003,
                990002,
                names[990002],
                "DC21",
                30000,
                pendingProcessIndicator="W",
                withdrawalDate="2030-01-01T00:00:00Z",
            ),
            {
                "coverId": 880004,
                "policyId": POLICY_ID,
                "customerId": CUSTOMER_ID,
                "buyerId": 990003,
                "buyerName": names[990003],
                "coverType": "credit-limit",
                "coverStatus": "REFERRED",
                "creditLimitApplicationAmountInPolicyCurrency": Decimal(150000),
                "applicationDate": "2024-03-01T12:00:00Z",
                "policyCurrency": "EUR",
            },
        ],
        "historic": [
            _decision(
                880000,
                990001,
                names[990001],
                "DC01",
                25000,
                historicCode="SCLD",
                applicationDate="2022-05-30T09:00:00Z",
                decisionDate="2022-06-01T08:00:00Z",
                effectFromDate="2022-06-01",
            ),
        ],
    }


def contract_fixture(token_ttl: float, token_path: str, decision_delay: float) -> ContractFixture:
    """What the contract suite should find in :func:`contract_seed`."""
    return insurer_contract_fixture(
        external_ref={"customer_id": CUSTOMER_ID, "policy_id": POLICY_ID},
        known_buyer_id="990001",
        uncovered_buyer_id="990004",
        portfolio_size=4,
        token_ttl=token_ttl,
        token_path=token_path,
        decision_delay=decision_delay,
        history_size=5,
    )
