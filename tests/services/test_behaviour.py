"""Payment behaviour from the ledger on SQLite and PostgreSQL: the SQL aggregates equal
the pure item-by-item reference (:func:`tci_gateway.domain.behaviour.behaviour_of`) on
generated ledgers; scopes (buyer, tier, policy, portfolio), FX, snapshots and trends,
trading facts. The tests about the SQL run on both backends; the others (lookups, FX,
trading facts, the importer's dates, whose SQL other tests cover) on SQLite."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, func, insert, select

from tci_gateway.domain.behaviour import ItemFacts, behaviour_of
from tci_gateway.domain.money import Money
from tci_gateway.ledger.credit_tables import BehaviourSnapshotRow
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.tables import BuyerRow, ErpAccountRow, OpenItemRow, PolicyRow
from tci_gateway.services.behaviour import (
    BehaviourOptions,
    behaviour_report,
    buyer_behaviour,
    buyer_dbt,
    clear_cache,
    take_snapshots,
    trading_facts,
    trend,
)
from tci_gateway.services.importing import import_buyers, import_open_items

from .test_claims import POLICY as CLAIMS_POLICY

NOW = datetime(2026, 4, 2, 6, 0, tzinfo=UTC)
DAY = date(2026, 3, 31)
D = Decimal


def usd_to_eur(amount: Money, currency: str, on: date) -> Money | None:
    """USD at 0.9 EUR, rounded to cents; no rate for anything else."""
    if amount.currency == currency:
        return amount
    if amount.currency == "USD" and currency == "EUR":
        return Money((amount.amount * D("0.9")).quantize(D("0.01")), "EUR")
    return None


OPTIONS = BehaviourOptions(convert=usd_to_eur, countback_max_months=4, dbt_window_months=6)


@dataclass(frozen=True)
class Item:
    buyer: int  # 1..3
    facts: ItemFacts


def seed(
    ledger: Ledger, items: Sequence[Item], *, tiers: dict[int, str | None] | None = None
) -> None:
    """Policies p1 (buyers 1, 2) and p2 (buyer 3's first account); buyer 3's second
    account has no policy. Buyer 1 is strategic, 2 has no tier (default growth), 3 watch."""
    tiers = tiers if tiers is not None else {1: "strategic", 2: None, 3: "watch"}
    with ledger.unit_of_work() as s:
        s.execute(delete(OpenItemRow))
        s.execute(delete(ErpAccountRow))
        s.execute(delete(BuyerRow))
        s.execute(delete(PolicyRow))
        for pid in (1, 2):
            s.execute(
                insert(PolicyRow).values(
                    id=pid,
                    key=f"p{pid}",
                    insurer="allianz",
                    currency="EUR",
                    insured_percentage=D(90),
                    max_credit_period_days=120,
                    max_extension_days=60,
                    overdue_notification_days=60,
                    waiting_days=180,
                    claim_filing_days=30,
                    discretionary_limit=D(20000),
                    claim_threshold=D(0),
                    deductible=D(0),
                    timezone="UTC",
                    external_ref={},
                    updated_at=NOW,
                )
            )
        for bid in (1, 2, 3):
            s.execute(
                insert(BuyerRow).values(
                    id=bid,
                    name=f"Buyer {bid}",
                    country="FR",
                    tier=tiers.get(bid),
                    created_at=NOW,
                    updated_at=NOW,
                )
            )
        accounts: dict[int, tuple[int, int | None]] = {
            1: (1, 1),
            2: (2, 1),
            3: (3, 2),
            4: (3, None),
        }
        for aid, (bid, policy) in accounts.items():
            s.execute(
                insert(ErpAccountRow).values(
                    id=aid,
                    account=f"A{aid}",
                    name=f"A{aid}",
                    buyer_id=bid,
                    policy_id=policy,
                    created_at=NOW,
                    updated_at=NOW,
                )
            )
        rows = []
        for n, item in enumerate(items):
            f = item.facts
            aid = item.buyer if item.buyer < 3 else 3 + n % 2
            rows.append(
                {
                    "erp_account_id": aid,
                    "document_number": f"D{n}",
                    "kind": f.kind,
                    "currency": f.currency,
                    "amount": f.amount,
                    "open_amount": f.open_amount,
                    "document_date": f.document_date,
                    "due_date": f.due_date,
                    "disputed": f.disputed,
                    "disputed_since": f.disputed_since,
                    "settled_on": f.settled_on,
                    "updated_at": NOW,
                    "source": "default",
                }
            )
        if rows:
            s.execute(insert(OpenItemRow), rows)
    clear_cache(ledger)  # written without an import: the cached scope sums cannot tell


def account_of(items: Sequence[Item], n: int) -> int:
    return items[n].buyer if items[n].buyer < 3 else 3 + n % 2


def reference(items: Sequence[Item], keep: object = None) -> object:
    facts = [i.facts for n, i in enumerate(items) if keep is None or keep(n, i)]  # type: ignore[operator]
    return behaviour_of(
        facts,
        DAY,
        "EUR",
        convert=usd_to_eur,
        dso_months=OPTIONS.dso_months,
        countback_max_months=OPTIONS.countback_max_months,
        dbt_window_months=OPTIONS.dbt_window_months,
    )


# -- generated ledgers -------------------------------------------------------------------

_dates = st.dates(date(2025, 8, 1), date(2026, 4, 15))
_amounts = st.integers(1, 50_000).map(lambda c: D(c) / 4)


@st.composite
def items_strategy(draw: st.DrawFn) -> Item:
    kind = draw(st.sampled_from(["INVOICE", "INVOICE", "INVOICE", "CREDIT_NOTE", "PAYMENT"]))
    amount = draw(_amounts)
    document = draw(_dates)
    state = draw(st.sampled_from(["open", "partial", "settled", "settled", "unknown"]))
    settled_on = None
    open_amount = amount
    if state == "partial":
        open_amount = (amount / 2).quantize(D("0.0001"))
    elif state == "settled":
        open_amount = D(0)
        settled_on = document + timedelta(days=draw(st.integers(0, 200)))
    elif state == "unknown":
        open_amount = D(0)
    due = draw(st.one_of(st.none(), st.integers(0, 90).map(lambda n: document + timedelta(days=n))))
    disputed = kind == "INVOICE" and open_amount > 0 and draw(st.booleans())
    since = (
        draw(st.one_of(st.none(), st.integers(0, 100).map(lambda n: document + timedelta(days=n))))
        if disputed
        else None
    )
    return Item(
        draw(st.integers(1, 3)),
        ItemFacts(
            kind=kind,
            currency=draw(st.sampled_from(["EUR", "EUR", "USD", "GBP"])),
            amount=amount,
            open_amount=open_amount,
            document_date=document,
            due_date=due,
            settled_on=settled_on,
            disputed=disputed,
            disputed_since=since,
        ),
    )


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.lists(items_strategy(), max_size=40))
def test_sql_equals_the_item_by_item_reference(ledger: Ledger, items: list[Item]) -> None:
    seed(ledger, items)
    buyers = buyer_behaviour(ledger, DAY, OPTIONS)
    # the tier rules' shortcut gives the same weighted days beyond terms
    assert buyer_dbt(ledger, DAY, OPTIONS) == {k: b.dbt_weighted for k, b in buyers.items()}
    for bid in (1, 2, 3):
        mine = [n for n, i in enumerate(items) if i.buyer == bid]
        if not any(items[n].facts.document_date <= DAY for n in mine):
            assert bid not in buyers
            continue
        assert buyers[bid] == reference(items, lambda n, i, b=bid: i.buyer == b)
    (portfolio,) = behaviour_report(ledger, DAY, OPTIONS)
    assert portfolio.key == "all" and portfolio.label == "Portfolio"
    assert portfolio.behaviour == reference(items)
    tiers = {s.key: s.behaviour for s in behaviour_report(ledger, DAY, OPTIONS, scope="tier")}
    for tier, bid in (("strategic", 1), ("growth", 2), ("watch", 3)):
        if tier in tiers:
            assert tiers[tier] == reference(items, lambda n, i, b=bid: i.buyer == b)
    (p1,) = behaviour_report(ledger, DAY, OPTIONS, scope="policy", key="p1")
    assert p1.behaviour == reference(items, lambda n, i: i.buyer < 3)
    (p2,) = behaviour_report(ledger, DAY, OPTIONS, scope="policy", key="p2")
    assert p2.behaviour == reference(items, lambda n, i: account_of(items, n) == 3)


# -- a hand-made ledger ------------------------------------------------------------------


def inv(
    amount: str,
    document: date,
    due: date | None,
    *,
    currency: str = "EUR",
    disputed_since: date | None = None,
) -> ItemFacts:
    """An open invoice (disputed when ``disputed_since`` is given)."""
    return ItemFacts(
        "INVOICE",
        currency,
        D(amount),
        D(amount),
        document,
        due,
        disputed=disputed_since is not None,
        disputed_since=disputed_since,
    )


def paid(amount: str, document: date, due: date, settled_on: date) -> ItemFacts:
    """A settled invoice."""
    return ItemFacts("INVOICE", "EUR", D(amount), D(0), document, due, settled_on)


def test_a_scope_sums_its_buyers_never_averages_their_dsos(ledger: Ledger) -> None:
    # Buyer 1: big and slow; buyer 2: small and quick. The tier's DSO is its summed
    # receivables over its summed sales, not the mean of the two DSOs.
    items = [
        Item(1, inv("90000", date(2026, 3, 1), date(2026, 4, 30))),
        Item(
            1,
            paid("30000", date(2026, 3, 5), date(2026, 4, 30), date(2026, 3, 20)),
        ),
        Item(2, inv("1000", date(2026, 3, 30), date(2026, 4, 29))),
        Item(
            2,
            paid("9000", date(2026, 3, 2), date(2026, 4, 1), date(2026, 3, 10)),
        ),
    ]
    seed(ledger, items, tiers={1: "growth", 2: None, 3: "watch"})  # None: the default, growth
    (growth,) = behaviour_report(ledger, DAY, OPTIONS, scope="tier", key="growth")
    b = growth.behaviour
    assert b.receivables == D(91000)
    assert b.sales[0].sales == D(130000) and b.sales[0].days == 31
    # 91,000 / 130,000 x 31 = 21.7 days (the mean of 23.25 and 3.1 would be 13.2)
    assert b.dso_countback == D("21.70")
    assert b.dso_simple == D("63.00")  # 91,000 / 130,000 x 90 (three months)
    (watch,) = behaviour_report(ledger, DAY, OPTIONS, scope="tier", key="watch")
    assert watch.behaviour.receivables == 0 and watch.behaviour.dso_simple is None


def test_unknown_buyer_or_policy_is_a_lookup_error(ledger: Ledger) -> None:
    seed(ledger, [])
    with pytest.raises(LookupError, match="unknown policy"):
        behaviour_report(ledger, DAY, OPTIONS, scope="policy", key="nope")
    with pytest.raises(LookupError, match="unknown buyer"):
        behaviour_report(ledger, DAY, OPTIONS, scope="buyer", key="99")
    with pytest.raises(ValueError, match="unknown scope"):
        behaviour_report(ledger, DAY, OPTIONS, scope="region")
    (empty,) = behaviour_report(ledger, DAY, OPTIONS, scope="buyer", key="1")
    assert empty.label == "Buyer 1" and empty.behaviour.receivables == 0


test_unknown_buyer_or_policy_is_a_lookup_error.sqlite_only = True  # type: ignore[attr-defined]


def test_a_missing_fx_rate_leaves_the_currency_out_and_says_so(ledger: Ledger) -> None:
    items = [
        Item(1, inv("1000", date(2026, 3, 1), date(2026, 4, 30), currency="GBP")),
        Item(1, inv("1000", date(2026, 3, 1), date(2026, 4, 30), currency="USD")),
        Item(1, inv("500", date(2026, 3, 1), date(2026, 4, 30))),
    ]
    seed(ledger, items)
    b = buyer_behaviour(ledger, DAY, OPTIONS, [1, 2])
    assert b[1].receivables == D("1400.00")
    assert b[1].notes == ("1 item in GBP left out: no GBP to EUR rate on 2026-03-31",)
    assert b[2].receivables == 0 and b[2].dso_countback == 0


test_a_missing_fx_rate_leaves_the_currency_out_and_says_so.sqlite_only = True  # type: ignore[attr-defined]


def test_snapshots_keep_month_ends_and_the_latest_and_draw_a_trend(ledger: Ledger) -> None:
    items = [
        Item(1, inv("3100", date(2026, 1, 10), date(2026, 2, 10))),
        Item(
            2,
            inv(
                "1000",
                date(2026, 3, 1),
                date(2026, 3, 31),
                disputed_since=date(2026, 3, 15),
            ),
        ),
    ]
    seed(ledger, items)
    opts = BehaviourOptions(convert=usd_to_eur, scopes=("buyer", "portfolio"))
    for day in (date(2026, 1, 31), date(2026, 2, 27), date(2026, 2, 28), date(2026, 3, 30)):
        written = take_snapshots(ledger, day, opts, now=NOW)
        assert written == (3 if day.month == 3 else 2)  # buyer 2's first item is of March
    # a rerun of the same date replaces its rows
    take_snapshots(ledger, date(2026, 3, 30), opts, now=NOW)
    with ledger.reading() as s:
        dates = sorted({d for (d,) in s.execute(select(BehaviourSnapshotRow.business_date))})
        per_day = s.scalar(
            select(func.count()).where(BehaviourSnapshotRow.business_date == date(2026, 3, 30))
        )
    assert dates == [date(2026, 1, 31), date(2026, 2, 28), date(2026, 3, 30)]
    assert per_day == 3
    points = trend(ledger, "portfolio", "all")
    assert [p.behaviour.day for p in points] == dates
    last = points[-1].behaviour
    live = behaviour_report(ledger, date(2026, 3, 30), opts)[0].behaviour
    assert last == live
    assert last.disputed_amount == D(1000) and last.disputed_oldest_days == 15
    assert [p.behaviour.receivables for p in trend(ledger, "buyer", "2")] == [D(1000)]
    assert trend(ledger, "tier", "watch") == []
    facts = trading_facts(ledger, 1, date(2026, 3, 30), opts)
    assert facts.first_invoice_on == date(2026, 1, 10)
    assert facts.months_trading == 2
    assert facts.paid_within_terms == 0
    assert facts.highest_month_end_balance == D(3100)


def test_trading_facts_count_invoices_paid_within_terms(ledger: Ledger) -> None:
    items = [
        Item(
            1,
            paid("100", date(2025, 1, 15), date(2025, 2, 15), date(2025, 2, 1)),
        ),
        Item(
            1,
            paid("100", date(2026, 1, 15), date(2026, 2, 15), date(2026, 2, 15)),
        ),
        Item(
            1,
            paid("100", date(2026, 1, 20), date(2026, 2, 15), date(2026, 2, 16)),
        ),
        Item(1, inv("100", date(2026, 2, 1), date(2026, 3, 1))),
    ]
    seed(ledger, items)
    facts = trading_facts(ledger, 1, DAY, OPTIONS)
    assert facts.first_invoice_on == date(2025, 1, 15)
    assert facts.months_trading == 14
    assert facts.paid_within_terms == 1  # the 2025 one is outside the 12 months
    assert facts.highest_month_end_balance is None


# -- the importer keeps the dates behaviour counts from ----------------------------------

ITEMS_HEADER = (
    "erp_account,document_number,kind,document_date,delivery_date,due_date,currency,"
    "amount,open_amount,disputed,applies_to\n"
)


test_trading_facts_count_invoices_paid_within_terms.sqlite_only = True  # type: ignore[attr-defined]


def test_imports_keep_settled_on_and_disputed_since(ledger: Ledger, tmp_path: Path) -> None:
    buyers = tmp_path / "buyers.csv"
    buyers.write_text(
        "erp_account,name,country,policy,insurer_ids,tier\nA1,Alpha SA,FR,aci,,growth\n",
        encoding="utf-8",
    )
    import_buyers(ledger, buyers, policies={"aci": CLAIMS_POLICY}, now=NOW)

    def load(day: date, rows: dict[str, tuple[str, str]], *, complete: bool = False) -> int:
        path = tmp_path / f"items-{day}.csv"
        path.write_text(
            ITEMS_HEADER
            + "".join(
                f"A1,{doc},INVOICE,2026-01-05,,2026-02-04,EUR,100.00,{open_},{disputed},\n"
                for doc, (open_, disputed) in rows.items()
            ),
            encoding="utf-8",
        )
        report = import_open_items(
            ledger, path, now=NOW, today=day, complete=complete, allow_mass_close=True
        )
        return report.unchanged

    def dates() -> dict[str, tuple[date | None, date | None]]:
        with ledger.reading() as s:
            rows = s.execute(
                select(
                    OpenItemRow.document_number, OpenItemRow.settled_on, OpenItemRow.disputed_since
                )
            )
            return {doc: (settled, since) for doc, settled, since in rows}

    d1, d2, d3, d4 = (date(2026, 2, n) for n in (1, 2, 3, 4))
    load(d1, {"I1": ("100.00", "false"), "I2": ("100.00", "true"), "I3": ("0.00", "false")})
    assert dates() == {"I1": (None, None), "I2": (None, d1), "I3": (d1, None)}
    # settled now, still disputed, still settled: the first dates stay, nothing rewritten
    unchanged = load(
        d2, {"I1": ("0.00", "false"), "I2": ("100.00", "true"), "I3": ("0.00", "false")}
    )
    assert unchanged == 2
    assert dates() == {"I1": (d2, None), "I2": (None, d1), "I3": (d1, None)}
    # reopened, no longer disputed
    load(d3, {"I1": ("50.00", "false"), "I2": ("100.00", "false"), "I3": ("0.00", "false")})
    assert dates() == {"I1": (None, None), "I2": (None, None), "I3": (d1, None)}
    # a complete export that no longer lists I1 and I2 settles them that day
    load(d4, {"I3": ("0.00", "false")}, complete=True)
    assert dates() == {"I1": (d4, None), "I2": (d4, None), "I3": (d1, None)}


test_imports_keep_settled_on_and_disputed_since.sqlite_only = True  # type: ignore[attr-defined]
