"""The GLEIF sandbox's golden-copy files: the published CSV layout, written streamed.

:func:`write_golden_copy` writes rows keyed by the real LEI-CDF 3.1 (level 1, ``lei2``)
or RR-CDF 2.1 (level 2, ``rr``) CSV column names into a ZIP with one CSV member, under
GLEIF's published file name
``{YYYYMMDD}-{HHMM}-gleif-goldencopy-{lei2|rr}-{golden-copy|intra-day|...}.csv.zip``.
Columns a row does not give are written empty, as in the real files (most of a real
record's ~200 columns are empty). Rows are written one at a time, so a 3.5M-record file
for the benchmark is never held in memory.

The header is the columns ``../shared/reference/service-and-workflow.md`` (Part 1a)
names, in the order of the XML paths they come from; repeated elements are numbered
``.1``..``.5``. The real header has more repeated groups (other addresses, qualifiers)
whose exact count is not known here: the reader finds its columns by name, so the order
and the width of the real file do not matter to it.

:func:`synthetic_records` makes N valid records quickly (benchmarks, large tests).
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

__all__ = [
    "DELTA_SUFFIXES",
    "LEI2_COLUMNS",
    "RR_COLUMNS",
    "file_name",
    "lei_with_check_digits",
    "synthetic_records",
    "synthetic_relationships",
    "write_golden_copy",
]

DELTA_SUFFIXES: dict[str | None, str] = {
    None: "golden-copy",
    "IntraDay": "intra-day",
    "LastDay": "last-day",
    "LastWeek": "last-week",
    "LastMonth": "last-month",
}
"""Delta kind (``None``: the full golden copy) -> the last part of GLEIF's file name."""

_ADDRESS_FIELDS = (
    "xmllang",
    "FirstAddressLine",
    "AddressNumber",
    "AddressNumberWithinBuilding",
    "MailRouting",
    "AdditionalAddressLine.1",
    "AdditionalAddressLine.2",
    "AdditionalAddressLine.3",
    "City",
    "Region",
    "Country",
    "PostalCode",
)


def _numbered(prefix: str, count: int, fields: Iterable[str]) -> list[str]:
    subs = tuple(fields)
    return [f"{prefix}.{n}{'.' + f if f else ''}" for n in range(1, count + 1) for f in subs]


def _lei2_columns() -> list[str]:
    cols = ["LEI", "Entity.LegalName", "Entity.LegalName.xmllang"]
    cols += _numbered("Entity.OtherEntityNames.OtherEntityName", 5, ("", "xmllang", "type"))
    cols += _numbered(
        "Entity.TransliteratedOtherEntityNames.TransliteratedOtherEntityName",
        5,
        ("", "xmllang", "type"),
    )
    cols += [f"Entity.LegalAddress.{f}" for f in _ADDRESS_FIELDS]
    cols += [f"Entity.HeadquartersAddress.{f}" for f in _ADDRESS_FIELDS]
    cols += _numbered("Entity.OtherAddresses.OtherAddress", 5, ("type", *_ADDRESS_FIELDS))
    cols += _numbered(
        "Entity.TransliteratedOtherAddresses.TransliteratedOtherAddress",
        5,
        ("type", *_ADDRESS_FIELDS),
    )
    cols += [
        "Entity.RegistrationAuthority.RegistrationAuthorityID",
        "Entity.RegistrationAuthority.OtherRegistrationAuthorityID",
        "Entity.RegistrationAuthority.RegistrationAuthorityEntityID",
        "Entity.LegalJurisdiction",
        "Entity.EntityCategory",
        "Entity.EntitySubCategory",
        "Entity.LegalForm.EntityLegalFormCode",
        "Entity.LegalForm.OtherLegalForm",
        "Entity.AssociatedEntity.type",
        "Entity.AssociatedEntity.AssociatedLEI",
        "Entity.AssociatedEntity.AssociatedEntityName",
        "Entity.AssociatedEntity.AssociatedEntityName.xmllang",
        "Entity.EntityStatus",
        "Entity.EntityCreationDate",
        "Entity.EntityExpirationDate",
        "Entity.EntityExpirationReason",
    ]
    cols += _numbered(
        "Entity.SuccessorEntity",
        5,
        ("SuccessorLEI", "SuccessorEntityName", "SuccessorEntityName.xmllang"),
    )
    cols += [
        "Registration.InitialRegistrationDate",
        "Registration.LastUpdateDate",
        "Registration.RegistrationStatus",
        "Registration.NextRenewalDate",
        "Registration.ManagingLOU",
        "Registration.ValidationSources",
        "Registration.ValidationAuthority.ValidationAuthorityID",
        "Registration.ValidationAuthority.OtherValidationAuthorityID",
        "Registration.ValidationAuthority.ValidationAuthorityEntityID",
    ]
    cols += _numbered(
        "Registration.OtherValidationAuthorities.OtherValidationAuthority",
        5,
        ("ValidationAuthorityID", "OtherValidationAuthorityID", "ValidationAuthorityEntityID"),
    )
    cols.append("ConformityFlag")
    return cols


def _rr_columns() -> list[str]:
    cols = [
        "Relationship.StartNode.NodeID",
        "Relationship.StartNode.NodeIDType",
        "Relationship.EndNode.NodeID",
        "Relationship.EndNode.NodeIDType",
        "Relationship.RelationshipType",
        "Relationship.RelationshipStatus",
    ]
    cols += _numbered("Relationship.Period", 5, ("startDate", "endDate", "periodType"))
    cols += _numbered("Relationship.Qualifiers", 5, ("QualifierDimension", "QualifierCategory"))
    cols += _numbered(
        "Relationship.Quantifiers",
        5,
        ("MeasurementMethod", "QuantifierAmount", "QuantifierUnits"),
    )
    cols += [
        "Registration.InitialRegistrationDate",
        "Registration.LastUpdateDate",
        "Registration.RegistrationStatus",
        "Registration.NextRenewalDate",
        "Registration.ManagingLOU",
        "Registration.ValidationSources",
        "Registration.ValidationDocuments",
        "Registration.ValidationReference",
    ]
    return cols


LEI2_COLUMNS: tuple[str, ...] = tuple(_lei2_columns())
"""The level-1 header (LEI-CDF 3.1 CSV), in the order of the record's XML paths."""
RR_COLUMNS: tuple[str, ...] = tuple(_rr_columns())
"""The level-2 header (RR-CDF 2.1 CSV); a delta file adds ``DeletedAt``."""


def file_name(publication: str, kind: str, delta: str | None) -> str:
    """GLEIF's published name for a CSV file of ``kind`` (``lei2``/``rr``)."""
    if delta not in DELTA_SUFFIXES:
        raise ValueError(f"unknown delta kind {delta!r}")
    return f"{publication}-gleif-goldencopy-{kind}-{DELTA_SUFFIXES[delta]}.csv.zip"


def write_golden_copy(
    directory: Path,
    records: Iterable[Mapping[str, str]],
    *,
    publication: str = "20261206-0800",
    kind: str = "lei2",
    delta: str | None = None,
) -> Path:
    """Write ``records`` (rows keyed by the real CSV column names; a column a row does
    not give is empty) as a GLEIF golden-copy (``delta=None``) or delta file in
    ``directory``; returns its path. Streamed: rows are written as they come.
    Raises ``ValueError`` for a column name the file does not have (a typo in a test
    would otherwise write an empty column silently)."""
    if kind not in ("lei2", "rr"):
        raise ValueError(f"unknown golden-copy kind {kind!r} (lei2 or rr)")
    columns = list(LEI2_COLUMNS if kind == "lei2" else RR_COLUMNS)
    if delta is not None and kind == "rr":
        columns.append("DeletedAt")
    name = file_name(publication, kind, delta)
    path = Path(directory) / name
    index = {c: i for i, c in enumerate(columns)}
    width = len(columns)
    with (
        zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive,
        archive.open(name.removesuffix(".zip"), "w", force_zip64=True) as member,
        io.TextIOWrapper(member, encoding="utf-8", newline="") as text,
    ):
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(columns)
        for record in records:
            row = [""] * width
            for key, value in record.items():
                at = index.get(key)
                if at is None:
                    raise ValueError(f"{name} has no column {key!r}")
                row[at] = value
            writer.writerow(row)
    return path


_LETTERS = str.maketrans({chr(c): str(c - 55) for c in range(ord("A"), ord("Z") + 1)})


def lei_with_check_digits(base: str) -> str:
    """``base`` (18 upper-case letters or digits) with its ISO 17442 check digits."""
    number = int((base + "00").translate(_LETTERS))
    return f"{base}{98 - number % 97:02d}"


def synthetic_records(
    count: int, *, start: int = 0, name_suffix: str = ""
) -> Iterator[dict[str, str]]:
    """``count`` valid level-1 records, quickly: LEIs ``TCIG00{n:012d}`` with check
    digits, one in four registered at Companies House (``RA000585``) with a GB company
    number, one in four at an authority the crosswalk does not know. ``name_suffix``
    changes every name (a delta of changed records)."""
    for n in range(start, start + count):
        lei = lei_with_check_digits(f"TCIG00{n:012d}")
        flavour = n % 4
        country = ("GB", "FR", "DE", "NL")[flavour]
        record = {
            "LEI": lei,
            "Entity.LegalName": f"Synthetic Company {n} Ltd{name_suffix}",
            "Entity.LegalName.xmllang": "en",
            "Entity.LegalAddress.FirstAddressLine": f"{n % 997} High Street",
            "Entity.LegalAddress.City": "Leeds",
            "Entity.LegalAddress.Country": country,
            "Entity.LegalAddress.PostalCode": "LS1 4AP",
            "Entity.HeadquartersAddress.FirstAddressLine": f"{n % 997} High Street",
            "Entity.HeadquartersAddress.City": "Leeds",
            "Entity.HeadquartersAddress.Country": country,
            "Entity.LegalJurisdiction": country,
            "Entity.EntityCategory": "GENERAL",
            "Entity.LegalForm.EntityLegalFormCode": "H0PO",
            "Entity.EntityStatus": "ACTIVE",
            "Registration.InitialRegistrationDate": "2014-03-01T00:00:00Z",
            "Registration.LastUpdateDate": "2026-11-30T08:00:00Z",
            "Registration.RegistrationStatus": "ISSUED",
            "Registration.NextRenewalDate": "2027-03-01T00:00:00Z",
            "Registration.ManagingLOU": "TCIG00000000000000XX",
            "Registration.ValidationSources": "FULLY_CORROBORATED",
            "ConformityFlag": "CONFORMING",
        }
        if flavour == 0:
            record["Entity.RegistrationAuthority.RegistrationAuthorityID"] = "RA000585"
            record["Entity.RegistrationAuthority.RegistrationAuthorityEntityID"] = (
                f"{10_000_000 + n % 89_999_999:08d}"
            )
        elif flavour == 1:
            record["Entity.RegistrationAuthority.RegistrationAuthorityID"] = "RA000754"
            record["Entity.RegistrationAuthority.RegistrationAuthorityEntityID"] = f"X{n}"
        yield record


def synthetic_relationships(count: int, *, start: int = 0) -> Iterator[dict[str, str]]:
    """``count`` level-2 records: record ``n`` IS_DIRECTLY_CONSOLIDATED_BY record
    ``n - n % 10`` (the LEIs of :func:`synthetic_records`); a record is never its own
    parent (the first of each ten points to the one before)."""
    for n in range(start, start + count):
        parent = n - n % 10 if n % 10 else max(n - 1, 0) + (1 if n == 0 else 0)
        yield {
            "Relationship.StartNode.NodeID": lei_with_check_digits(f"TCIG00{n:012d}"),
            "Relationship.StartNode.NodeIDType": "LEI",
            "Relationship.EndNode.NodeID": lei_with_check_digits(f"TCIG00{parent:012d}"),
            "Relationship.EndNode.NodeIDType": "LEI",
            "Relationship.RelationshipType": "IS_DIRECTLY_CONSOLIDATED_BY",
            "Relationship.RelationshipStatus": "ACTIVE",
            "Registration.RegistrationStatus": "PUBLISHED",
        }
