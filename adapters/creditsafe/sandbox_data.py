"""Building blocks of Creditsafe sandbox data, and the contract data set (synthetic).

:func:`search_result` and :func:`report` build records in the wire shape described in
``fixtures/creditsafe/README.md`` (report fields also as seen in one public French report). The
contract data set holds fictional companies with check-digit-valid but made-up numbers.
"""

from __future__ import annotations

import zlib
from decimal import Decimal
from typing import Any

from tci_gateway.adapters.contract_testing import BureauContractFixture
from tci_gateway.adapters.sandbox_support import CONTRACT_CRN, bureau_contract_fixture
from tci_gateway.domain.identifiers import Scheme, parse_identifier

CONTRACT_ID = "GB-0-09990101"
CONTRACT_VAT = "GB999010141"


def search_result(
    connect_id: str,
    name: str,
    *,
    reg_no: str | None,
    vat: list[str] | None = None,
    city: str = "LONDON",
    postcode: str | None = None,
    status: str = "Active",
    office_type: str = "HeadOffice",
    safe_no: str | None = None,
    trading_names: list[str] | None = None,
) -> dict[str, Any]:
    """One ``companies[]`` record of ``GET /companies``."""
    street = f"1 {name.split()[0].title()} Street"
    return {
        "id": connect_id,
        "country": connect_id[:2],
        "regNo": reg_no,
        "safeNo": safe_no or f"{connect_id[:2]}{zlib.crc32(connect_id.encode()) % 10**7:07d}",
        "vatNo": vat or [],
        "name": name,
        "address": {
            "simpleValue": f"{street}, {city}, {postcode or ''}".strip(", "),
            "street": street,
            "city": city,
            "postCode": postcode,
        },
        "status": status,
        "type": "Ltd",
        "officeType": office_type,
        "tradingNames": trading_names or [],
        "dateOfLatestChange": "2024-03-01T00:00:00Z",
    }


def report(
    company: dict[str, Any],
    *,
    rating: str | None,
    score: Any,
    limit: Any,
    currency: str | None,
    description: str = "Low Risk",
) -> dict[str, Any]:
    """A ``report`` for a search record: ``score`` and ``limit`` as Creditsafe writes
    them (a number, a numeric text or prose such as ``"Not Rated"``)."""
    address = company["address"]
    credit_limit: dict[str, Any] = {"value": limit}
    if currency is not None:
        credit_limit["currency"] = currency
    return {
        "companyId": company["id"],
        "language": "EN",
        "companySummary": {
            "businessName": company["name"],
            "country": company["country"],
            "companyRegistrationNumber": company["regNo"],
            "companyStatus": {"status": company["status"], "description": company["status"]},
        },
        "companyIdentification": {
            "basicInformation": {
                "businessName": company["name"],
                "registeredCompanyName": company["name"],
                "companyRegistrationNumber": company["regNo"],
                "vatRegistrationNumber": (company["vatNo"] or [None])[0],
                "country": company["country"],
                "companyRegistrationDate": "2015-04-01T00:00:00Z",
                "companyStatus": {"status": company["status"], "description": company["status"]},
            }
        },
        "contactInformation": {
            "mainAddress": {
                "simpleValue": address["simpleValue"],
                "street": address["street"],
                "city": address["city"],
                "postalCode": address["postCode"],
                "country": company["country"],
            }
        },
        "creditScore": {
            "currentCreditRating": {
                "commonValue": rating,
                "commonDescription": description,
                "creditLimit": credit_limit,
                "providerValue": {"maxValue": "100", "minValue": "0", "value": score},
                "providerDescription": description,
            },
            "latestRatingChangeDate": "2024-02-15T00:00:00Z",
        },
    }


def contract_seed() -> dict[str, Any]:
    """The contract data set (format of :meth:`.sandbox.CreditsafeSandbox.seed`)."""
    alpha = search_result(
        CONTRACT_ID,
        "CONTRACT ALPHA TRADING LIMITED",
        reg_no=CONTRACT_CRN,
        vat=[CONTRACT_VAT],
        postcode="EC1A 1AA",
    )
    beta = search_result(
        "GB-0-09990202", "CONTRACT BETA HOLDINGS PLC", reg_no="09990202", postcode="EC2A 2BB"
    )
    return {
        "companies": [alpha, beta],
        "reports": {
            alpha["id"]: report(
                alpha, rating="B", score="64", limit=Decimal(25000), currency="GBP"
            ),
            beta["id"]: report(
                beta,
                rating="E",
                score="Not Rated",
                limit="Credit Limit not applicable",
                currency=None,
                description="Not Rated",
            ),
        },
    }


def contract_fixture(token_lifetime: float, token_path: str) -> BureauContractFixture:
    """What the contract suite should find in :func:`contract_seed`."""
    identifiers = (
        parse_identifier(Scheme.GB_CRN, CONTRACT_CRN),
        parse_identifier(Scheme.VAT, CONTRACT_VAT),
    )
    return bureau_contract_fixture(
        CONTRACT_ID,
        identifiers,
        has_assessment=True,
        token_lifetime=token_lifetime,
        token_path=token_path,
    )
