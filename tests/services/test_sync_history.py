"""Cover history kept by the limit sync: several records of one buyer in one sync are
each their own effective-dated version, reruns write nothing, and the indemnity relies
on that history (docs/domain.md, section 7's example)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import httpx
from sqlalchemy import func, select

from tci_gateway.domain.cover import CoverStatus
from tci_gateway.domain.indemnity import compute_indemnity
from tci_gateway.domain.money import Money
from tci_gateway.domain.policy import Policy
from tci_gateway.domain.receivables import ItemKind, OpenItem
from tci_gateway.ledger.covers import versions_of_buyer
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.tables import AlertRow, CoverDecisionRow
from tci_gateway.services.cases import limit_function
from tci_gateway.services.sync import sync_limits

from ..erp.conftest import NOW, make_policy
from .fakes import FakeInsurer, decision, entry

POLICY: Policy = make_policy()
JAN = decision("100000", ref="C1", start=date(2026, 1, 1), changed=datetime(2026, 1, 1, tzinfo=UTC))
JUNE = decision(
    "40000",
    status=CoverStatus.REDUCED,
    ref="C2",
    start=date(2026, 6, 1),
    changed=datetime(2026, 5, 20, tzinfo=UTC),
)


def eur(value: str) -> Money:
    return Money(Decimal(value), "EUR")


def invoice(number: str, amount: str, delivered: date) -> OpenItem:
    return OpenItem(
        erp_account="A1",
        document_number=number,
        kind=ItemKind.INVOICE,
        amount=eur(amount),
        open_amount=eur(amount),
        document_date=delivered,
        delivery_date=delivered,
        due_date=delivered,
    )


def indemnity(ledger: Ledger, buyer_id: int = 1) -> Money:
    with ledger.unit_of_work() as s:
        history = versions_of_buyer(s, 1, buyer_id)
    result = compute_indemnity(
        [invoice("A", "70000", date(2026, 5, 10)), invoice("B", "30000", date(2026, 6, 15))],
        POLICY.terms,
        limit_function(history, "EUR"),
    )
    return result.indemnity


def versions(ledger: Ledger) -> int:
    with ledger.unit_of_work() as s:
        return s.scalar(select(func.count()).select_from(CoverDecisionRow)) or 0


def test_one_portfolio_with_a_decision_and_its_reduction_keeps_both(ledger: Ledger) -> None:
    report = sync_limits(
        ledger, FakeInsurer(items=[entry("1", JAN), entry("1", JUNE)]), POLICY, now=NOW
    )
    assert (report.fetched, report.written) == (2, 2)
    assert indemnity(ledger) == eur("63000")  # A insured 70,000, B 0: 90 % of 70,000
    again = sync_limits(
        ledger, FakeInsurer(items=[entry("1", JAN), entry("1", JUNE)]), POLICY, now=NOW
    )
    assert (again.written, again.unchanged, again.stale, again.alerts) == (0, 2, 0, 0)
    assert versions(ledger) == 2


def test_history_in_any_order_gives_the_same_versions(ledger: Ledger) -> None:
    report = sync_limits(
        ledger, FakeInsurer(items=[entry("1", JUNE), entry("1", JAN)]), POLICY, now=NOW
    )
    assert report.written == 2
    assert indemnity(ledger) == eur("63000")
    with ledger.unit_of_work() as s:
        kinds = sorted(s.scalars(select(AlertRow.kind).where(AlertRow.kind.like("cover%"))))
    assert kinds == ["cover_new"]  # the older decision is history: no alert of its own


def test_an_older_decision_synced_later_is_added_as_history(ledger: Ledger) -> None:
    sync_limits(ledger, FakeInsurer(items=[entry("1", JUNE)]), POLICY, now=NOW)
    assert indemnity(ledger) == eur("27000")  # what the ledger can tell without history
    report = sync_limits(
        ledger, FakeInsurer(items=[entry("1", JAN), entry("1", JUNE)]), POLICY, now=NOW
    )
    assert (report.written, report.unchanged, report.stale) == (1, 1, 0)
    assert indemnity(ledger) == eur("63000")


def test_an_older_version_of_the_same_cover_never_replaces_the_newer(ledger: Ledger) -> None:
    newer = decision("70000", ref="C1", changed=datetime(2026, 9, 1, tzinfo=UTC))
    older = decision("90000", ref="C1", changed=datetime(2026, 8, 1, tzinfo=UTC))
    sync_limits(ledger, FakeInsurer(items=[entry("1", newer)]), POLICY, now=NOW)
    report = sync_limits(ledger, FakeInsurer(items=[entry("1", older)]), POLICY, now=NOW)
    assert (report.written, report.stale) == (0, 1)
    # Nor an older record of another cover starting on or after the newest version.
    other = decision(
        "90000", ref="C9", start=date(2026, 2, 1), changed=datetime(2026, 8, 1, tzinfo=UTC)
    )
    report = sync_limits(ledger, FakeInsurer(items=[entry("1", other)]), POLICY, now=NOW)
    assert (report.written, report.stale) == (0, 1)
    assert versions(ledger) == 1


def test_a_rerun_compares_with_the_version_of_the_same_cover_not_the_latest(
    ledger: Ledger,
) -> None:
    # A changed version of the January decision (its withdrawal date now known) after the
    # June version: a new version of C1, then nothing on the rerun.
    ended = decision(
        "100000", ref="C1", start=date(2026, 1, 1), changed=datetime(2026, 5, 21, tzinfo=UTC)
    )
    sync_limits(ledger, FakeInsurer(items=[entry("1", JAN), entry("1", JUNE)]), POLICY, now=NOW)
    items = [entry("1", ended), entry("1", JUNE)]
    first = sync_limits(ledger, FakeInsurer(items=list(items)), POLICY, now=NOW)
    assert (first.written, first.unchanged) == (1, 1)
    again = sync_limits(ledger, FakeInsurer(items=list(items)), POLICY, now=NOW)
    assert (again.written, again.unchanged) == (0, 2)


def test_a_case_says_when_the_limit_at_delivery_is_unknown(ledger: Ledger, tmp_path: Path) -> None:
    from tci_gateway.domain.escalation import DEFAULT_PATHS, EscalationPath
    from tci_gateway.services import case_views
    from tci_gateway.services.claims import run_claims
    from tci_gateway.services.importing import import_buyers, import_open_items

    buyers = tmp_path / "buyers.csv"
    buyers.write_text(
        "erp_account,name,country,policy,insurer_ids\nA1,Alpha GmbH,DE,main,atradius:1\n",
        encoding="utf-8",
    )
    items = tmp_path / "items.csv"
    items.write_text(
        "erp_account,document_number,kind,document_date,delivery_date,due_date,currency,"
        "amount,open_amount\n"
        "A1,A,INVOICE,2026-05-10,2026-05-10,2026-07-10,EUR,70000.00,70000.00\n"
        "A1,B,INVOICE,2026-06-15,2026-06-15,2026-08-15,EUR,30000.00,30000.00\n",
        encoding="utf-8",
    )
    import_buyers(ledger, buyers, policies={"main": POLICY}, now=NOW)
    import_open_items(ledger, items, now=NOW)
    paths = {
        tier: EscalationPath.of(tier, {"reminder": 7, "overdue_notification": 30, "claim": 90})
        for tier in DEFAULT_PATHS
    }

    def claims() -> case_views.CaseView:
        run_claims(ledger, {"main": POLICY}, paths, {}, default_tier="growth", now=NOW)
        (case,) = case_views.list_cases(ledger)
        return case

    sync_limits(ledger, FakeInsurer(items=[entry("1", JUNE)]), POLICY, now=NOW)
    case = claims()
    assert case.indemnity == Decimal("27000.00")  # B alone: at least this much
    assert case.indemnity_lower_bound
    assert case.indemnity_note == "limit at delivery unknown: cover history starts on 2026-06-01"
    pack = case_views.filing_pack(ledger, case.id)
    assert pack["amounts"]["indemnity_lower_bound"] is True
    assert pack["amounts"]["note"] == case.indemnity_note
    lines = {line["number"]: line for line in pack["indemnity"]["lines"]}
    assert (lines["A"]["limit_known"], lines["A"]["limit_at_delivery"]) == (False, None)
    assert (lines["B"]["limit_known"], lines["B"]["limit_at_delivery"]) == (True, "40000.00")

    # The history back-filled: the January decision gives the exact figure.
    sync_limits(ledger, FakeInsurer(items=[entry("1", JAN), entry("1", JUNE)]), POLICY, now=NOW)
    case = claims()
    assert case.indemnity == Decimal("63000.00")
    assert not case.indemnity_lower_bound and case.indemnity_note is None


def test_the_pack_shows_the_unknown_limit_and_the_lower_bound() -> None:
    from tci_gateway.services.pack_render import render_pack

    note = "limit at delivery unknown: cover history starts on 2026-06-01"
    line = {
        "number": "A",
        "delivery_date": "2026-05-10",
        "due_date": "2026-07-10",
        "currency": "EUR",
        "open_amount": "70000.00",
        "open_in_policy": "70000.00",
        "credits_applied": "0.00",
        "net": "70000.00",
        "limit_at_delivery": None,
        "limit_known": False,
        "insured": "0.00",
        "excluded": None,
    }
    ind = {
        "currency": "EUR",
        "lines": [line],
        "insured_total": "0.00",
        "insured_percentage": "90",
        "gross_indemnity": "0.00",
        "claim_threshold": "0.00",
        "below_threshold": True,
        "deductible": "0.00",
        "indemnity": "0.00",
        "lower_bound": True,
        "note": note,
    }
    text = render_pack({"indemnity": ind}, only="indemnity")
    assert "| 70000.00 | unknown | 0.00 |" in text
    assert "**indemnity: 0.00 EUR** (a lower bound)" in text
    assert f"- {note}: the indemnity is at least the figure above" in text


def test_the_atradius_portfolio_with_a_decision_and_its_reduction(ledger: Ledger) -> None:
    """The issue's case through the real adapter: Atradius lists the 100k decision
    (superseded, SCLD) and the 40k reduction; both are kept, the indemnity is 63,000."""
    from tci_gateway.adapters.contract import AdapterContext
    from tci_gateway.adapters.registry import load_plugin

    from .sandboxed import sandboxed_insurer

    _, sandbox, fixture = sandboxed_insurer("atradius")
    ref = dict(fixture.policy.external_ref)

    def cover(cover_id: int, code: str, amount: int, start: str, **extra: str) -> dict[str, object]:
        return {
            "coverId": cover_id,
            "policyId": ref["policy_id"],
            "buyerId": 990077,
            "buyerName": "Reduced Ltd",
            "coverType": "credit-limit",
            "coverStatus": "DECISION",
            "decisionCode": code,
            "totalDecision": {"decisionAmtInPolicyCurrency": Decimal(amount)},
            "decisionDate": f"{start}T09:00:00Z",
            "effectFromDate": start,
            **extra,
        }

    sandbox.seed(
        {
            "covers": [
                cover(870001, "DC01", 100000, "2026-01-01", historicCode="SCLD"),
                cover(870002, "DC09", 40000, "2026-06-01", decisionDate="2026-05-20T09:00:00Z"),
            ]
        }
    )
    plugin = load_plugin("atradius")
    adapter = plugin.create(
        AdapterContext(
            name="atradius",
            base_url=plugin.sandbox_base_url,
            environment="sandbox",
            credentials=dict(sandbox.credentials),
            transport=httpx.MockTransport(sandbox.handle),
        )
    )
    policy = Policy("main", "atradius", POLICY.terms, ref)
    report = sync_limits(ledger, adapter, policy, now=NOW)  # type: ignore[arg-type]
    assert report.ok, report.errors
    with ledger.unit_of_work() as s:
        (buyer_id,) = s.scalars(
            select(CoverDecisionRow.buyer_id).where(CoverDecisionRow.insurer_cover_ref == "870002")
        )
    assert indemnity(ledger, buyer_id) == eur("63000")
    again = sync_limits(ledger, adapter, policy, now=NOW)  # type: ignore[arg-type]
    assert again.written == 0
