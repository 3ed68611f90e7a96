"""The sandbox toolkit: fault application, routes, tokens, request checks, seeding."""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tci_gateway.adapters.contract_testing import Fault, SandboxClock
from tci_gateway.adapters.sandbox_support import (
    BearerTokens,
    DecidingBook,
    FaultQueue,
    SandboxControls,
    bureau_contract_fixture,
    find_route,
    insurer_contract_fixture,
    json_object,
    query_params,
    sandbox_credentials,
    serve_with_fault,
    serves_path,
)
from tci_gateway.errors import ConfigError

URL = "https://sandbox.test/api"


class Refused(Exception):
    pass


class Served:
    """A stand-in for a sandbox's plain serving: records what it was asked."""

    def __init__(self, refuse: bool = False) -> None:
        self.calls: list[str | None] = []
        self.refuse = refuse

    def __call__(self, unknown_code: str | None) -> httpx.Response:
        self.calls.append(unknown_code)
        if self.refuse:
            raise Refused
        return httpx.Response(200, text=f"served {unknown_code}")


def fault_answer(fault: Fault) -> httpx.Response:
    return httpx.Response(fault.status or 500, text="fault")


def test_serve_with_fault_none_before_after_and_unknown_codes() -> None:
    served = Served()
    assert serve_with_fault(None, served, fault_answer, (Refused,)).text == "served None"
    before = serve_with_fault(Fault(status=503), served, fault_answer, (Refused,))
    assert (before.status_code, served.calls) == (503, [None])
    after = Fault(status=504, after_processing=True)
    assert serve_with_fault(after, served, fault_answer, (Refused,)).status_code == 504
    assert served.calls == [None, None]
    unknown = serve_with_fault(Fault(unknown_code="ZZ"), served, fault_answer, (Refused,))
    assert unknown.text == "served ZZ"


def test_a_refusal_of_a_request_processed_before_its_fault_is_dropped() -> None:
    refusing = Served(refuse=True)
    after = Fault(status=502, after_processing=True)
    assert serve_with_fault(after, refusing, fault_answer, (Refused,)).status_code == 502
    with pytest.raises(Refused):
        serve_with_fault(None, refusing, fault_answer, (Refused,))


def test_routes() -> None:
    routes = [
        ("GET", re.compile(r"/covers/(?P<id>\d+)"), "read"),
        ("POST", re.compile(r"/covers"), "create"),
    ]
    found = find_route(routes, "GET", "/covers/12")
    assert found is not None and found[0] == "read" and found[1]["id"] == "12"
    assert find_route(routes, "POST", "/covers/12") is None
    assert serves_path(routes, "/covers/12")
    assert not serves_path(routes, "/covers/12/x")


def test_credentials_given_or_random() -> None:
    made = sandbox_credentials({"user": "u", "password": ""}, ["user", "password"], size=12)
    assert made["user"] == "u"
    assert len(made["password"]) == 16
    assert sandbox_credentials(None, ["key"]) != sandbox_credentials(None, ["key"])


def test_bearer_tokens_expire_on_the_sandbox_clock() -> None:
    clock = SandboxClock(datetime(2024, 3, 1, tzinfo=UTC))
    tokens = BearerTokens(clock, 60)
    token = tokens.issue()
    good = httpx.Request("GET", URL, headers={"Authorization": f"Bearer {token}"})
    assert tokens.valid(good)
    assert not tokens.valid(httpx.Request("GET", URL, headers={"Authorization": f"Basic {token}"}))
    assert not tokens.valid(httpx.Request("GET", URL))
    clock.advance(60)
    assert not tokens.valid(good)
    assert tokens.expiry(good) == datetime(2024, 3, 1, 0, 1, tzinfo=UTC)
    tokens.issue()
    assert tokens.expiry(good) is None  # expired tokens are forgotten on the next issue


def test_json_object_and_query_params_refuse_in_the_callers_shape() -> None:
    def malformed() -> Exception:
        return ValueError("malformed")

    post = httpx.Request("POST", URL, content=b'{"amount": 1.10}')
    assert str(json_object(post, malformed)["amount"]) == "1.10"
    for content in (b"[1]", b"{", b"\xff"):
        with pytest.raises(ValueError, match="malformed"):
            json_object(httpx.Request("POST", URL, content=content), malformed)
    get = httpx.Request("GET", URL, params={"a": " 1 ", "b": "2"})

    def unknown(key: str) -> Exception:
        return KeyError(f"unknown {key}")

    def missing(key: str) -> Exception:
        return LookupError(f"missing {key}")

    assert query_params(get, {"a", "b"}, ("a",), unknown=unknown, missing=missing) == {
        "a": "1",
        "b": "2",
    }
    with pytest.raises(KeyError, match="unknown b"):
        query_params(get, {"a"}, (), unknown=unknown, missing=missing)
    with pytest.raises(LookupError, match="missing c"):
        query_params(get, {"a", "b", "c"}, ("c",), unknown=unknown, missing=missing)


class TinySandbox(SandboxControls):
    def __init__(self, *, clock: Any = None) -> None:
        self.clock = clock or SandboxClock()
        self.received: Counter[tuple[str, str]] = Counter()
        self._lock = threading.RLock()
        self._faults = FaultQueue(self._lock)
        self.data: list[Mapping[str, Any]] = []

    def seed(self, data: Mapping[str, Any]) -> None:
        self.data.append(data)


def test_from_seed_reads_a_mapping_or_a_json_file(tmp_path: Any) -> None:
    assert TinySandbox.from_seed({"a": 1}).data == [{"a": 1}]
    path = tmp_path / "seed.json"
    path.write_text('{"limit": 1.50}')
    seeded = TinySandbox.from_seed(path)
    assert isinstance(seeded, TinySandbox)
    assert str(seeded.data[0]["limit"]) == "1.50"


def test_contract_fixtures() -> None:
    insurer = insurer_contract_fixture(
        external_ref={"policy_id": "P"},
        known_buyer_id="1",
        uncovered_buyer_id="4",
        portfolio_size=3,
        token_ttl=60,
        token_path="/token",
        decision_delay=30,
    )
    assert insurer.policy.external_ref == {"policy_id": "P"}
    assert insurer.auth_request == ("POST", "/token")
    assert insurer.small_amount.amount < insurer.referred_amount.amount  # type: ignore[union-attr]
    bureau = bureau_contract_fixture("LEI1", (), has_assessment=False)
    assert bureau.auth_request is None and bureau.token_lifetime is None
    assert bureau.known_company.identifier != bureau.unknown_company.identifier


def test_deciding_book_rules() -> None:
    book = DecidingBook(auto_approve_up_to="50000", decision_delay=60, partial_ratio="0.5")
    assert book.auto_approve_up_to == Decimal(50000)
    assert book.decision_delay.total_seconds() == 60
    assert book.offered(Decimal(150001)) == Decimal(75000)
    assert book.offered(Decimal(150001), Decimal(1000)) == Decimal(75000)
    assert book.offered(Decimal(1999), Decimal(1000)) == Decimal(0)
    for bad in (True, "lots"):
        with pytest.raises(ConfigError, match="partial_ratio"):
            DecidingBook(auto_approve_up_to=1, decision_delay=1, partial_ratio=bad)
