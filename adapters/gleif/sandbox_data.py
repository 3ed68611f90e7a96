"""Building blocks of GLEIF sandbox data, and the contract data set (synthetic).

:func:`lei_record` builds a ``lei-records`` resource shaped like the public API's
(every field ``fixtures/gleif/README.md`` lists, ``null`` where a real record has ``null``).
:func:`contract_seed` is the small data set the bureau contract suite runs against:
fictional companies with check-digit-valid but made-up LEIs and company numbers.
"""

from __future__ import annotations

from typing import Any

from tci_gateway.adapters.contract_testing import BureauContractFixture
from tci_gateway.adapters.sandbox_support import CONTRACT_CRN, bureau_contract_fixture
from tci_gateway.domain.identifiers import Scheme, parse_identifier

CONTRACT_LEI = "5299000TCIGWCNTRA019"
CONTRACT_PARENT_LEI = "5299000TCIGWCNTRB086"
CONTRACT_OTHER_LEI = "5299000TCIGWCNTRZ045"


def address(lines: list[str], city: str, country: str, postcode: str | None) -> dict[str, Any]:
    """An address object as GLEIF writes it."""
    return {
        "language": "en",
        "addressLines": lines,
        "addressNumber": None,
        "addressNumberWithinBuilding": None,
        "mailRouting": None,
        "city": city,
        "region": None,
        "country": country,
        "postalCode": postcode,
    }


def lei_record(
    lei: str,
    name: str,
    *,
    country: str,
    city: str,
    postcode: str | None = None,
    registered_at: str | None = None,
    registered_as: str | None = None,
    status: str = "ACTIVE",
    registration_status: str = "ISSUED",
    category: str = "GENERAL",
    legal_form: str | None = None,
    other_names: list[str] | None = None,
    expiration_reason: str | None = None,
) -> dict[str, Any]:
    """A ``lei-records`` resource (the ``data`` member of ``GET /lei-records/{lei}``)."""
    legal = address([f"1 {name.split()[0].title()} Street"], city, country, postcode)
    return {
        "type": "lei-records",
        "id": lei,
        "attributes": {
            "lei": lei,
            "entity": {
                "legalName": {"name": name, "language": "en"},
                "otherNames": [
                    {"name": other, "language": "en", "type": "TRADING_OR_OPERATING_NAME"}
                    for other in other_names or []
                ],
                "transliteratedOtherNames": [],
                "legalAddress": legal,
                "headquartersAddress": dict(legal),
                "registeredAt": {"id": registered_at, "other": None},
                "registeredAs": registered_as,
                "jurisdiction": country,
                "category": category,
                "legalForm": {"id": legal_form, "other": None},
                "associatedEntity": {"lei": None, "name": None},
                "status": status,
                "expiration": {
                    "date": "2023-06-30T00:00:00Z" if expiration_reason else None,
                    "reason": expiration_reason,
                },
                "successorEntity": {"lei": None, "name": None},
                "successorEntities": [],
                "creationDate": "2012-03-05T00:00:00Z",
                "subCategory": None,
                "otherAddresses": [],
                "eventGroups": [],
            },
            "registration": {
                "initialRegistrationDate": "2014-02-10T09:15:00Z",
                "lastUpdateDate": "2024-01-15T08:00:00Z",
                "status": registration_status,
                "nextRenewalDate": "2025-02-10T09:15:00Z",
                "managingLou": "5299000J2N45DDNE4Y28",
                "corroborationLevel": "FULLY_CORROBORATED",
                "validatedAt": {"id": registered_at, "other": None},
                "validatedAs": registered_as,
                "otherValidationAuthorities": [],
            },
            "bic": None,
            "mic": None,
            "ocid": None,
            "spglobal": None,
            "conformityFlag": "CONFORMING",
        },
        "relationships": {},
        "links": {"self": f"https://api.gleif.org/api/v1/lei-records/{lei}"},
    }


def contract_seed() -> dict[str, Any]:
    """The contract data set (same format as :meth:`.sandbox.GleifSandbox.seed`): a GB
    company under RA000585 with a parent, the parent, and a French company."""
    return {
        "records": [
            lei_record(
                CONTRACT_LEI,
                "CONTRACT ALPHA TRADING LIMITED",
                country="GB",
                city="LONDON",
                postcode="EC1A 1AA",
                registered_at="RA000585",
                registered_as=CONTRACT_CRN,
                legal_form="H0PO",
            ),
            lei_record(
                CONTRACT_PARENT_LEI,
                "CONTRACT BETA HOLDINGS PLC",
                country="GB",
                city="LONDON",
                postcode="EC2A 2BB",
                registered_at="RA000585",
                registered_as="09990202",
                legal_form="B6ES",
            ),
            lei_record(
                CONTRACT_OTHER_LEI,
                "CONTRACT ZETA SAS",
                country="FR",
                city="LYON",
                postcode="69002",
                registered_at="RA000189",
                registered_as="123456782",
            ),
        ],
        "parents": {
            CONTRACT_LEI: {"direct": CONTRACT_PARENT_LEI, "ultimate": CONTRACT_PARENT_LEI},
        },
    }


def contract_fixture() -> BureauContractFixture:
    """What the contract suite should find in :func:`contract_seed`."""
    identifiers = (
        parse_identifier(Scheme.LEI, CONTRACT_LEI),
        parse_identifier(Scheme.GB_CRN, CONTRACT_CRN),
    )
    return bureau_contract_fixture(CONTRACT_LEI, identifiers, has_assessment=False)
