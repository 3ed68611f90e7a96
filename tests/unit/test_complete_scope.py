"""The scope of a complete export and its mass-close guard, without a database: which
company codes a file is complete for, what the guard allows (the share boundary exactly),
and profiles that say complete/source."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from tci_gateway.erp.profiles import ErpProfile
from tci_gateway.services.complete_import import (
    MassCloseError,
    Scope,
    check_guard,
    import_business_date,
)


def stored(source: str, code: str | None, open_amount: str) -> Any:
    return SimpleNamespace(source=source, company_code=code, open_amount=Decimal(open_amount))


def test_the_codes_a_file_is_complete_for() -> None:
    scope = Scope("sap")
    assert scope.codes() is None  # an empty file: the whole source
    scope.saw(None)
    assert scope.codes() is None  # no company codes at all: the whole source
    scope.saw("1000")
    assert scope.codes() == {None, "1000"}
    assert scope.describe() == "source 'sap', company code 1000"
    constant = Scope("sap", constant_code="2000")
    assert constant.codes() == {"2000"}  # known even before any row
    many = Scope("x")
    for code in ("1", "2", "3", "4", "5", "6", "7"):
        many.saw(code)
    assert many.describe() == "source 'x', company codes 1, 2, 3, 4, 5 and 2 more"


def test_only_items_open_in_the_scope_before_the_import_count() -> None:
    scope = Scope("sap")
    for row in (
        stored("sap", "1000", "10.00"),
        stored("sap", "2000", "5.00"),
        stored("sap", "1000", "0"),  # paid already: not open
        stored("odoo", "1000", "7.00"),  # another source
        stored("sap", None, "1.00"),
    ):
        scope.was_open(row)
    scope.saw("1000")
    assert scope.open_listed() == 1  # only company code 1000 is in this file's scope
    scope.saw(None)
    assert scope.open_listed() == 2


@given(
    closed=st.integers(min_value=0, max_value=10_000),
    listed=st.integers(min_value=0, max_value=10_000),
    share=st.decimals(min_value=0, max_value=1, places=2),
)
def test_the_guard_refuses_exactly_above_the_share(
    closed: int, listed: int, share: Decimal
) -> None:
    scope = Scope("s")
    scope.listed_open[None] = listed
    refused = closed * 100 > share * 100 * (closed + listed)
    try:
        check_guard("f.csv", scope, rows=1, closed=closed, max_share=share, allow_mass_close=False)
    except MassCloseError as exc:
        assert refused
        assert f"would close {closed} of the {closed + listed} open items" in str(exc)
    else:
        assert not refused
    check_guard("f.csv", scope, rows=1, closed=closed, max_share=share, allow_mass_close=True)


def test_an_empty_file_is_refused_even_when_nothing_is_open() -> None:
    with pytest.raises(MassCloseError, match="lists no items; it would close 0 of the 0"):
        check_guard(
            "f.csv", Scope("s"), rows=0, closed=0, max_share=Decimal(1), allow_mass_close=False
        )


def test_the_business_date_of_an_import() -> None:
    late = datetime(2026, 11, 29, 23, 30, tzinfo=UTC)
    assert import_business_date(["Europe/Paris"], late) == date(2026, 11, 30)
    assert import_business_date(["Europe/Paris", "Europe/Paris"], late) == date(2026, 11, 30)
    # Policies in different zones: the fallback zone decides.
    assert import_business_date(["Europe/Paris", "America/New_York"], late) == date(2026, 11, 29)
    assert import_business_date([], late, "Asia/Tokyo") == date(2026, 11, 30)


BASE: dict[str, Any] = {
    "kind": "open_items",
    "columns": {
        "erp_account": "a",
        "document_number": "b",
        "kind": "c",
        "document_date": "d",
        "currency": "e",
        "amount": "f",
        "open_amount": "f",
        "company_code": "BUKRS",
    },
}


def test_profiles_say_complete_and_source() -> None:
    profile = ErpProfile.model_validate(BASE | {"complete": True, "source": "sap-1000"})
    assert profile.complete and profile.source == "sap-1000"
    assert profile.column_label("company_code") == "BUKRS"
    assert not ErpProfile.model_validate(BASE).complete


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (BASE | {"source": "sap 1000"}, "source 'sap 1000' must be"),
        (BASE | {"source": ""}, "must be 1 to 64"),
        (
            {"kind": "buyers", "columns": {"erp_account": "a", "name": "b", "country": "c"}}
            | {"complete": True},
            "complete and source apply to open_items profiles only",
        ),
    ],
)
def test_bad_complete_profiles_are_refused(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ErpProfile.model_validate(data)
