"""The Coface adapter's overdue declarations, policy details, configurable paths and
plugin configuration against the fixture payloads (httpx.MockTransport)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from tci_adapters.coface.plugin import PLUGIN
from tci_gateway.adapters.contract import (
    AdapterContext,
    OverdueFiling,
    OverdueInvoice,
    OverdueKind,
    OverdueNotice,
)
from tci_gateway.domain.money import Money
from tci_gateway.errors import ConfigError, RejectedError
from tci_gateway.http.jsonexact import loads
from tci_gateway.http.retry import RetryPolicy

from .helpers import BASE, CREDENTIALS, POLICY, FixtureServer, make_adapter


def eur(amount: str | int) -> Money:
    return Money(Decimal(amount), "EUR")


# -- overdues and policies ----------------------------------------------------------------


def notice(reference: str, kind: OverdueKind = OverdueKind.OVERDUE) -> OverdueNotice:
    invoices = (
        OverdueInvoice(
            "INV-1", date(2024, 1, 2), date(2024, 3, 1), eur("10000.50"), eur("10000.50")
        ),
        OverdueInvoice(
            "INV-2", date(2024, 1, 9), date(2024, 3, 8), eur(5000), eur(2500), date(2024, 4, 8)
        ),
    )
    return OverdueNotice(reference, POLICY, "71234568", kind, invoices, date(2024, 3, 1))


def test_overdue_declaration(retry: RetryPolicy) -> None:
    server = FixtureServer(
        {
            ("POST", "/overdues"): (201, "overdue_created.json"),
            ("GET", "/overdues"): (200, "overdues_by_reference.json"),
        }
    )
    adapter = make_adapter(server, retry)
    assert isinstance(adapter, OverdueFiling)
    result = adapter.submit_overdue(notice("tci-ovd-0001"))
    body = loads(server.calls("POST", "/overdues")[0].content)
    assert body["type"] == "OVERDUE" and body["easyNumber"] == "71234568"
    assert body["customerReference"] == "tci-ovd-0001"
    assert body["firstDefaultDate"] == "2024-03-01"
    assert body["totalOutstanding"] == Decimal("12500.50")
    assert body["invoices"][0] == {
        "invoiceNumber": "INV-1",
        "issueDate": "2024-01-02",
        "dueDate": "2024-03-01",
        "amount": Decimal("10000.50"),
        "outstandingAmount": Decimal("10000.50"),
        "currency": "EUR",
    }
    assert body["invoices"][1]["newDueDate"] == "2024-04-08"
    assert (result.insurer_reference, result.status, result.raw_status) == (
        "OVD-9000101",
        "SUBMITTED",
        "RECEIVED",
    )
    found = adapter.find_overdue(POLICY, "tci-ovd-0001")
    assert found is not None and (found.status, found.raw_status) == ("ACKNOWLEDGED", "REGISTERED")
    assert adapter.find_overdue(POLICY, "tci-ovd-other") is None


def test_extension_requests_only_when_configured(retry: RetryPolicy) -> None:
    server = FixtureServer({("POST", "/overdues"): (201, "overdue_created.json")})
    with pytest.raises(RejectedError, match="overdue_types"):
        make_adapter(server, retry).submit_overdue(notice("r-ext", OverdueKind.EXTENSION_REQUEST))
    with pytest.raises(RejectedError, match="RESCHEDULE"):
        make_adapter(server, retry).submit_overdue(notice("r-res", OverdueKind.RESCHEDULE))
    assert server.requests == []
    options = {"overdue_types": {"EXTENSION_REQUEST": "EXTENSION"}}
    make_adapter(server, retry, options=options).submit_overdue(
        notice("r-ext", OverdueKind.EXTENSION_REQUEST)
    )
    assert loads(server.calls("POST", "/overdues")[0].content)["type"] == "EXTENSION"


def test_policy_details(retry: RetryPolicy) -> None:
    server = FixtureServer({("GET", "/policies/1234567"): (200, "policy.json")})
    info = make_adapter(server, retry).policy_details("1234567")
    assert (info.policy_number, info.currency, info.end) == ("1234567", "EUR", date(2024, 12, 31))
    assert server.requests[-1].headers["x-cof-policy-number"] == "1234567"


def test_custom_paths_are_used(retry: RetryPolicy) -> None:
    options: dict[str, Any] = {
        "paths": {"token": "/auth/token", "portfolio": "/v9/contracts/{policy_number}/limits"}
    }
    server = FixtureServer({})
    server.routes = {
        ("POST", "/auth/token"): (200, "token.json"),
        ("GET", "/v9/contracts/1234567/limits"): (200, "portfolio_page_3.json"),
    }
    items = list(make_adapter(server, retry, options=options).fetch_portfolio(POLICY))
    assert len(items) == 2
    assert [r.url.path for r in server.requests] == ["/auth/token", "/v9/contracts/1234567/limits"]


# -- plugin -------------------------------------------------------------------------------


def test_missing_credentials_name_the_environment_variables() -> None:
    context = AdapterContext(
        name="coface_fr",
        base_url=BASE,
        environment="uat",
        credentials={"username": "u", "password": "canary-secret-XYZ"},
    )
    with pytest.raises(ConfigError) as caught:
        PLUGIN.create(context)
    message = str(caught.value)
    assert "TCI_INSURERS__COFACE_FR__CREDENTIALS__API_KEY" in message
    assert "USERNAME" not in message and "canary-secret-XYZ" not in message


def test_bad_options_and_base_url_are_config_errors() -> None:
    bad = AdapterContext("coface", BASE, "uat", CREDENTIALS, options={"page_limit": -1})
    with pytest.raises(ConfigError, match="page_limit"):
        PLUGIN.create(bad)
    with pytest.raises(ConfigError, match="not a URL"):
        PLUGIN.create(AdapterContext("coface", "cofaserve", "uat", CREDENTIALS))
    assert PLUGIN.credential_names == ("username", "password", "api_key")
    assert PLUGIN.sandbox_base_url == "https://sandbox.coface.invalid"
