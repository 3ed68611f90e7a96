"""Exposure against cover per buyer and policy (docs/domain.md, section 4)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tci_gateway.domain.alerts import AlertKind
from tci_gateway.domain.cover import CoverDecision, CoverStatus, PendingAction, Tranche
from tci_gateway.domain.exposure import compute_exposure, same_currency_only
from tci_gateway.domain.money import CurrencyMismatchError, Money
from tci_gateway.domain.receivables import ItemKind, OpenItem

ON = date(2026, 6, 15)
JAN1 = date(2026, 1, 1)


def eur(value: int | str | Decimal) -> Money:
    return Money(Decimal(value), "EUR")


_counter = iter(range(1, 10**9))


def item(
    kind: ItemKind,
    amount: int | str | Decimal,
    *,
    currency: str = "EUR",
    open_amount: int | str | Decimal | None = None,
    disputed: bool = False,
    document_date: date = date(2026, 5, 1),
    number: str | None = None,
) -> OpenItem:
    total = Money(Decimal(amount), currency)
    still_open = total if open_amount is None else Money(Decimal(open_amount), currency)
    return OpenItem(
        erp_account="C100",
        document_number=number or f"D{next(_counter)}",
        kind=kind,
        amount=total,
        open_amount=still_open,
        document_date=document_date,
        disputed=disputed,
    )


def invoice(amount: int | str | Decimal, **kw: object) -> OpenItem:
    return item(ItemKind.INVOICE, amount, **kw)  # type: ignore[arg-type]


def credit(amount: int | str | Decimal, **kw: object) -> OpenItem:
    return item(ItemKind.CREDIT_NOTE, amount, **kw)  # type: ignore[arg-type]


def payment(amount: int | str | Decimal, **kw: object) -> OpenItem:
    return item(ItemKind.PAYMENT, amount, **kw)  # type: ignore[arg-type]


def cover(
    amount: int | None = 100_000,
    status: CoverStatus = CoverStatus.APPROVED,
    pending: PendingAction | None = None,
) -> CoverDecision:
    return CoverDecision(
        insurer_cover_ref="C1",
        status=status,
        currency="EUR",
        granted_amount=eur(amount or 0),
        effective_from=JAN1,
        tranches=() if amount is None else (Tranche(eur(amount), JAN1),),
        pending_action=pending,
    )


def test_invoices_less_credit_notes_and_payments_within_the_limit() -> None:
    items = [
        invoice(70_000),
        invoice(30_000, open_amount=20_000),  # partly paid
        credit(5_000),
        payment("2500.50"),
    ]
    exp = compute_exposure(items, "EUR", cover(100_000), ON)
    assert exp.invoices == eur(90_000)
    assert exp.credits == eur("7500.50")
    assert exp.exposure == eur("82499.50")
    assert exp.limit == eur(100_000)
    assert exp.covered == eur("82499.50")
    assert exp.uncovered == eur(0)
    assert exp.disputed == eur(0)
    assert exp.alerts == ()
    assert exp.status is CoverStatus.APPROVED
    assert exp.unconverted == ()


def test_signed_open_amount() -> None:
    assert invoice(10).signed_open == eur(10)
    assert credit(10).signed_open == eur(-10)
    assert payment(10).signed_open == eur(-10)
    assert invoice(10).currency == "EUR"


def test_a_disputed_invoice_counts_in_exposure() -> None:
    exp = compute_exposure([invoice(60_000), invoice(20_000, disputed=True)], "EUR", cover(), ON)
    assert exp.exposure == eur(80_000)
    assert exp.disputed == eur(20_000)
    assert exp.covered == eur(80_000)


def test_over_limit() -> None:
    exp = compute_exposure([invoice(120_000)], "EUR", cover(100_000), ON)
    assert exp.covered == eur(100_000)
    assert exp.uncovered == eur(20_000)
    assert exp.alerts == (AlertKind.OVER_LIMIT,)


def test_exactly_at_the_limit_is_not_over() -> None:
    exp = compute_exposure([invoice(100_000)], "EUR", cover(100_000), ON)
    assert exp.uncovered == eur(0)
    assert exp.alerts == ()


def test_no_decision_is_uncovered() -> None:
    exp = compute_exposure([invoice(5_000)], "EUR", None, ON)
    assert exp.limit is None
    assert exp.status is None
    assert exp.covered == eur(0)
    assert exp.uncovered == eur(5_000)
    assert exp.alerts == (AlertKind.UNCOVERED,)


def test_refused_without_an_amount() -> None:
    exp = compute_exposure([invoice(5_000)], "EUR", cover(None, CoverStatus.REFUSED), ON)
    assert exp.limit == eur(0)
    assert exp.uncovered == eur(5_000)
    assert exp.alerts == (AlertKind.UNCOVERED, AlertKind.COVER_REFUSED)


def test_refused_increase_keeps_the_existing_cover() -> None:
    exp = compute_exposure([invoice(5_000)], "EUR", cover(50_000, CoverStatus.REFUSED), ON)
    assert exp.covered == eur(5_000)
    assert exp.alerts == (AlertKind.COVER_REFUSED,)


def test_pending() -> None:
    exp = compute_exposure([invoice(5_000)], "EUR", cover(None, CoverStatus.PENDING), ON)
    assert exp.covered == eur(0)
    assert exp.alerts == (AlertKind.UNCOVERED, AlertKind.COVER_PENDING)


def test_withdrawn_cover_leaves_everything_uncovered() -> None:
    exp = compute_exposure([invoice(5_000)], "EUR", cover(50_000, CoverStatus.WITHDRAWN), ON)
    assert exp.limit == eur(0)
    assert exp.uncovered == eur(5_000)
    assert AlertKind.UNCOVERED in exp.alerts


@pytest.mark.parametrize(
    "pending", [PendingAction.WITHDRAWAL_NOTICE, PendingAction.CANCELLATION_PENDING]
)
def test_an_announced_withdrawal_still_counts_and_alerts(pending: PendingAction) -> None:
    exp = compute_exposure([invoice(30_000)], "EUR", cover(50_000, pending=pending), ON)
    assert exp.covered == eur(30_000)
    assert exp.pending_action is pending
    assert exp.alerts == (AlertKind.PENDING_WITHDRAWAL,)


def test_other_pending_actions_raise_no_withdrawal_alert() -> None:
    exp = compute_exposure([invoice(1)], "EUR", cover(pending=PendingAction.TRANSFER_PENDING), ON)
    assert exp.alerts == ()


def test_an_item_in_another_currency_without_a_rate() -> None:
    items = [invoice(10_000), invoice(5_000, currency="USD", number="US-1")]
    exp = compute_exposure(items, "EUR", cover(), ON)
    assert exp.invoices == eur(10_000)  # the USD item is left out, not added as EUR
    assert exp.unconverted == ("US-1",)
    assert exp.alerts == (AlertKind.FX_RATE_MISSING,)


def test_the_default_converter_only_passes_the_same_currency() -> None:
    assert same_currency_only(eur(1), "EUR", ON) == eur(1)
    assert same_currency_only(Money(Decimal(1), "USD"), "EUR", ON) is None


def test_a_converter_is_called_with_the_document_date() -> None:
    calls: list[tuple[Money, str, date]] = []

    def convert(amount: Money, currency: str, on: date) -> Money | None:
        calls.append((amount, currency, on))
        if amount.currency == currency:
            return amount
        return Money(amount.amount * Decimal("0.9"), currency)

    usd = invoice(1_000, currency="USD", document_date=date(2026, 4, 2))
    exp = compute_exposure([usd, invoice(100)], "EUR", cover(), ON, convert)
    assert exp.invoices == eur(1_000)
    assert calls[0] == (Money(Decimal(1000), "USD"), "EUR", date(2026, 4, 2))
    assert exp.unconverted == ()


def test_a_converter_answering_in_the_wrong_currency_is_not_trusted() -> None:
    def wrong(amount: Money, currency: str, on: date) -> Money | None:
        return amount

    with pytest.raises(CurrencyMismatchError):
        compute_exposure([invoice(1, currency="USD")], "EUR", cover(), ON, wrong)


def test_a_credit_balance_is_neither_covered_nor_uncovered() -> None:
    exp = compute_exposure([invoice(1_000), credit(3_000)], "EUR", cover(), ON)
    assert exp.exposure == eur(-2_000)
    assert exp.covered == eur(0)
    assert exp.uncovered == eur(0)
    assert exp.alerts == ()


def test_a_credit_balance_without_cover_raises_no_uncovered_alert() -> None:
    exp = compute_exposure([payment(10)], "EUR", None, ON)
    assert exp.uncovered == eur(0)
    assert AlertKind.UNCOVERED not in exp.alerts


def test_nothing_open() -> None:
    exp = compute_exposure([], "EUR", cover(), ON)
    assert exp.exposure == eur(0)
    assert exp.covered == eur(0)
    assert exp.alerts == ()


def test_the_limit_is_taken_on_the_given_date() -> None:
    d = CoverDecision(
        "C1",
        CoverStatus.APPROVED,
        "EUR",
        eur(100),
        JAN1,
        tranches=(Tranche(eur(100), JAN1, expires_on=ON),),
    )
    assert compute_exposure([invoice(50)], "EUR", d, ON - timedelta(days=1)).covered == eur(50)
    assert compute_exposure([invoice(50)], "EUR", d, ON).covered == eur(0)


# -- properties -------------------------------------------------------------------------------

money_values = st.decimals(
    places=2,
    allow_nan=False,
    allow_infinity=False,
    min_value=Decimal("0"),
    max_value=Decimal("10000000"),
)
kinds = st.sampled_from(list(ItemKind))


@given(
    st.lists(st.tuples(kinds, money_values, st.booleans()), max_size=20),
    st.one_of(st.none(), money_values),
    st.sampled_from([CoverStatus.APPROVED, CoverStatus.PENDING, CoverStatus.WITHDRAWN]),
)
def test_covered_plus_uncovered_is_the_positive_exposure(
    rows: list[tuple[ItemKind, Decimal, bool]], limit: Decimal | None, status: CoverStatus
) -> None:
    items = [item(kind, amount, disputed=disputed) for kind, amount, disputed in rows]
    decision = None
    if limit is not None:
        decision = CoverDecision(
            "C1", status, "EUR", eur(limit), JAN1, tranches=(Tranche(eur(limit), JAN1),)
        )
    exp = compute_exposure(items, "EUR", decision, ON)
    zero = eur(0)
    expected = sum((a if k is ItemKind.INVOICE else -a for k, a, _ in rows), Decimal(0))
    assert exp.exposure == eur(expected)
    assert exp.covered + exp.uncovered == exp.exposure.max(zero)
    assert exp.covered >= zero and exp.uncovered >= zero
    if exp.limit is not None:
        assert exp.covered <= exp.limit
    else:
        assert exp.covered == zero
    assert (AlertKind.OVER_LIMIT in exp.alerts) == (
        exp.limit is not None and not exp.limit.is_zero() and exp.uncovered > zero
    )
    assert (AlertKind.UNCOVERED in exp.alerts) == (
        exp.uncovered > zero and (exp.limit is None or exp.limit.is_zero())
    )
    assert exp.disputed <= exp.invoices
