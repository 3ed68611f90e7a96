"""Building blocks of D&B sandbox data, and the contract data set (synthetic).

An organization is kept whole (identity, linkage, ``dnbAssessment``,
``businessTrading``); the sandbox answers each data call with the parts of the blocks
asked (:data:`BLOCK_PARTS`). The contract data set holds fictional companies with made-up
DUNS and company numbers: a GB company with a full assessment, its parent, one of its
branches, and a German company whose risk blocks are ``{}``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tci_gateway.adapters.contract_testing import BureauContractFixture
from tci_gateway.adapters.sandbox_support import CONTRACT_CRN, bureau_contract_fixture
from tci_gateway.domain.identifiers import Scheme, parse_identifier

RISK_PARTS = frozenset({"dnbAssessment"})
PAYMENT_PARTS = frozenset({"businessTrading"})
BLOCK_PARTS = {"financialstrengthinsight": RISK_PARTS, "paymentinsight": PAYMENT_PARTS}
"""Block family -> the organization members it carries; ``companyinfo`` carries the rest."""

CONTRACT_DUNS = "219900101"
PARENT_DUNS = "219900202"
BRANCH_DUNS = "219900303"
GERMAN_DUNS = "319900404"


def organization(
    duns: str,
    name: str,
    *,
    country: str,
    city: str,
    postcode: str,
    registrations: list[tuple[str, str, int]] | None = None,
    linkage: dict[str, Any] | None = None,
    assessment: dict[str, Any] | None = None,
    paydex: int | None = None,
) -> dict[str, Any]:
    """An ``organization`` with every block's members. ``registrations`` are
    ``(number, typeDescription, typeDnBCode)``; ``assessment`` the ``dnbAssessment``
    (``{}`` when not given, as D&B answers where it has nothing)."""
    trading: list[dict[str, Any]] = []
    if paydex is not None:
        trading = [
            {"summaryDate": "2024-03-31", "summary": [{"paydexScore": paydex, "dataCoverage": 12}]}
        ]
    return {
        "duns": duns,
        "primaryName": name,
        "tradeStyleNames": [],
        "countryISOAlpha2Code": country,
        "primaryAddress": {
            "streetAddress": {"line1": f"1 {name.split()[0].title()} Street"},
            "addressLocality": {"name": city},
            "postalCode": postcode,
            "addressCountry": {"isoAlpha2Code": country},
        },
        "registrationNumbers": [
            {"registrationNumber": n, "typeDescription": d, "typeDnBCode": c}
            for n, d, c in registrations or []
        ],
        "dunsControlStatus": {"operatingStatus": {"description": "Active", "dnbCode": 9074}},
        "corporateLinkage": linkage or {},
        "dnbAssessment": assessment if assessment is not None else {},
        "businessTrading": trading,
    }


def full_assessment(limit: Decimal, currency: str) -> dict[str, Any]:
    """A ``dnbAssessment`` with every part filled."""
    return {
        "failureScore": {
            "classScore": 2,
            "classScoreDescription": "Low risk of severe financial stress",
            "nationalPercentile": 81,
            "scoreDate": "2024-03-20",
        },
        "delinquencyScore": {"classScore": 2, "nationalPercentile": 77},
        "standardRating": {"rating": "3A2", "financialStrength": "3A", "riskSegment": "2"},
        "creditLimitRecommendation": {
            "assessmentDate": "2024-03-20",
            "maximumRecommendedLimit": {"value": limit, "currency": currency},
        },
    }


def contract_seed() -> dict[str, Any]:
    """The contract data set (format of :meth:`.sandbox.DnbSandbox.seed`)."""
    crn_type = ("COMPANIES REGISTRY OFFICE Number (GB)", 2541)
    parent_link = {"duns": PARENT_DUNS, "primaryName": "CONTRACT BETA HOLDINGS PLC"}
    return {
        "organizations": [
            organization(
                CONTRACT_DUNS,
                "CONTRACT ALPHA TRADING LIMITED",
                country="GB",
                city="LONDON",
                postcode="EC1A 1AA",
                registrations=[(CONTRACT_CRN, *crn_type)],
                linkage={
                    "familytreeRolesPlayed": [{"description": "Subsidiary", "dnbCode": 9159}],
                    "parent": parent_link,
                    "globalUltimate": parent_link,
                },
                assessment=full_assessment(Decimal(25000), "GBP"),
                paydex=78,
            ),
            organization(
                PARENT_DUNS,
                "CONTRACT BETA HOLDINGS PLC",
                country="GB",
                city="LONDON",
                postcode="EC2A 2BB",
                registrations=[("09990202", *crn_type)],
                linkage={"globalUltimate": parent_link},
                assessment=full_assessment(Decimal(500000), "GBP"),
                paydex=80,
            ),
            organization(
                BRANCH_DUNS,
                "CONTRACT ALPHA TRADING LIMITED MANCHESTER BRANCH",
                country="GB",
                city="MANCHESTER",
                postcode="M1 1AA",
                linkage={
                    "familytreeRolesPlayed": [{"description": "Branch/Division", "dnbCode": 12769}],
                    "headQuarter": {"duns": CONTRACT_DUNS},
                    "globalUltimate": parent_link,
                },
            ),
            organization(
                GERMAN_DUNS,
                "KONTRAKT GAMMA GMBH",
                country="DE",
                city="HAMBURG",
                postcode="20095",
                assessment={
                    "failureScore": {},
                    "delinquencyScore": {},
                    "standardRating": {},
                    "creditLimitRecommendation": {},
                },
            ),
        ]
    }


def contract_fixture(token_lifetime: float, token_path: str) -> BureauContractFixture:
    """What the contract suite should find in :func:`contract_seed`."""
    identifiers = (
        parse_identifier(Scheme.DUNS, CONTRACT_DUNS),
        parse_identifier(Scheme.GB_CRN, CONTRACT_CRN),
    )
    return bureau_contract_fixture(
        CONTRACT_DUNS,
        identifiers,
        has_assessment=True,
        token_lifetime=token_lifetime,
        token_path=token_path,
    )
