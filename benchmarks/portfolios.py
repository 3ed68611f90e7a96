"""Large synthetic portfolios in each insurer sandbox's seed format (benchmarks, fault
tests). Deterministic: cover i of insurer X is always the same.

The covers are a :class:`Records` sequence made one record at a time as the sandbox
reads it, so a seed of a million covers is never a list of a million records beside the
sandbox's own book (``--scale 10``: 1M covers).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, overload


class Records(Sequence[dict[str, Any]]):
    """``make(i)`` for ``i`` in ``range(start, start + n)``, made when read."""

    def __init__(self, make: Callable[[int], dict[str, Any]], start: int, n: int) -> None:
        self._make, self._ids = make, range(start, start + n)

    def __len__(self) -> int:
        return len(self._ids)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return map(self._make, self._ids)

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...
    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Any]]: ...
    def __getitem__(self, index: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(index, slice):
            return [self._make(i) for i in self._ids[index]]
        return self._make(self._ids[index])


POLICIES: dict[str, dict[str, str]] = {
    "atradius": {"customer_id": "2000001", "policy_id": "6000001"},
    "allianz": {"business_unit_code": "ACI", "policy_id": "7000001"},
    "coface": {"policy_number": "8800001"},
}


def _amount(i: int, bump: int) -> int:
    return 1000 * (5 + (i * 7919 + bump) % 500)


def _atradius_cover(i: int, bump: int) -> dict[str, Any]:
    ref = POLICIES["atradius"]
    amount = _amount(i, bump)
    return {
        "coverId": 50_000_000 + i,
        "policyId": ref["policy_id"],
        "customerId": ref["customer_id"],
        "buyerId": 10_000_000 + i,
        "buyerName": f"Bench Buyer {i}",
        "coverType": "credit-limit",
        "coverStatus": "DECISION",
        "policyCurrency": "EUR",
        "decisionCode": "DC01",
        "creditLimitApplicationAmountInPolicyCurrency": amount,
        "totalDecision": {
            "decisionAmtInPolicyCurrency": amount,
            "decisionAmtInUserCurrency": amount,
        },
        "applicationDate": "2026-01-05T09:00:00Z",
        "decisionDate": f"2026-01-07T10:{bump % 60:02d}:00Z",
        "effectFromDate": "2026-01-07",
    }


def atradius(n: int, *, start: int = 0, bump: int = 0) -> dict[str, Any]:
    ref = POLICIES["atradius"]
    covers = Records(lambda i: _atradius_cover(i, bump), start, n)
    return {
        "customers": [
            {
                "customerId": ref["customer_id"],
                "policies": [
                    {
                        "policyId": ref["policy_id"],
                        "policyCurrency": "EUR",
                        "policyStartDate": "2026-01-01",
                        "policyExpiryDate": "2027-12-31",
                    }
                ],
            }
        ],
        "buyers": [],
        "covers": covers,
    }


def _allianz_cover(i: int, bump: int) -> dict[str, Any]:
    ref = POLICIES["allianz"]
    amount = _amount(i, bump)
    return {
        "coverId": str(60_000_000 + i),
        "company": {
            "companyId": str(20_000_000 + i),
            "companyName": f"Bench Company {i}",
            "countryCode": "DE",
        },
        "policy": {
            "businessUnitCode": ref["business_unit_code"],
            "policyId": ref["policy_id"],
        },
        "creditLimitsAggregation": {
            "currencyCode": "EUR",
            "creditLimits": [
                {
                    "amount": amount,
                    "currencyCode": "EUR",
                    "startDate": "2026-01-15",
                    "decisionDate": f"2026-01-15T10:{bump % 60:02d}:00+01:00",
                    "technicalDecisionStatusCode": "Agreement",
                }
            ],
        },
        "lastUpdateDate": f"2026-01-15T10:{bump % 60:02d}:00+01:00",
    }


def allianz(n: int, *, start: int = 0, bump: int = 0) -> dict[str, Any]:
    ref = POLICIES["allianz"]
    covers = Records(lambda i: _allianz_cover(i, bump), start, n)
    return {
        "policies": [
            {
                "businessUnitCode": ref["business_unit_code"],
                "policyId": ref["policy_id"],
                "currencyCode": "EUR",
            }
        ],
        "companies": [],
        "covers": covers,
    }


def _coface_limit(i: int, bump: int) -> dict[str, Any]:
    ref = POLICIES["coface"]
    amount = _amount(i, bump)
    return {
        "policyNumber": ref["policy_number"],
        "orderId": str(70_000_000 + i),
        "easyNumber": str(30_000_000 + i),
        "companyName": f"Bench Société {i}",
        "countryCode": "FRA",
        "decisionCode": "AGREED",
        "amount": amount,
        "currency": "EUR",
        "requestedAmount": amount,
        "effectiveDate": "2026-01-15",
        "decisionDate": f"2026-01-15T10:{bump % 60:02d}:00+01:00",
        "orderDate": "2026-01-10T08:00:00Z",
    }


def coface(n: int, *, start: int = 0, bump: int = 0) -> dict[str, Any]:
    ref = POLICIES["coface"]
    limits = Records(lambda i: _coface_limit(i, bump), start, n)
    return {
        "policies": [
            {
                "policyNumber": ref["policy_number"],
                "currency": "EUR",
                "status": "ACTIVE",
                "startDate": "2026-01-01",
                "endDate": "2027-12-31",
            }
        ],
        "companies": [],
        "creditLimits": limits,
    }


SEEDS = {"atradius": atradius, "allianz": allianz, "coface": coface}
