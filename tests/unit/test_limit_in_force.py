"""The limit in force is conservative (docs/domain.md, section 3): domain/cover.py."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from tci_gateway.domain.alerts import AlertKind
from tci_gateway.domain.cover import (
    CoverDecision,
    CoverStatus,
    DecisionVersion,
    PendingAction,
    Tranche,
    covered_limit,
    in_force,
    is_decision,
    limit_in_force,
)
from tci_gateway.domain.exposure import compute_exposure
from tci_gateway.domain.money import Money
from tci_gateway.domain.receivables import ItemKind, OpenItem

JAN1 = date(2026, 1, 1)


def eur(value: int | Decimal) -> Money:
    return Money(Decimal(value), "EUR")


def d(
    amount: int,
    status: CoverStatus = CoverStatus.APPROVED,
    *,
    start: date = JAN1,
    to: date | None = None,
    tranches: tuple[Tranche, ...] | None = None,
    unknown: tuple[str, ...] = (),
    pending: PendingAction | None = None,
) -> CoverDecision:
    return CoverDecision(
        insurer_cover_ref="C1",
        status=status,
        currency="EUR",
        granted_amount=eur(amount),
        effective_from=start,
        tranches=tranches if tranches is not None else ((Tranche(eur(amount), start),)),
        effective_to=to,
        unknown_codes=unknown,
        pending_action=pending,
    )


def versions(*decisions: CoverDecision) -> list[DecisionVersion]:
    return [DecisionVersion(x, n) for n, x in enumerate(decisions, start=1)]


def test_only_a_decision_adds_cover() -> None:
    assert is_decision(d(1, CoverStatus.APPROVED))
    assert is_decision(d(1, CoverStatus.REFUSED))
    assert not is_decision(d(1, CoverStatus.PENDING))
    assert not is_decision(d(1, CoverStatus.APPROVED, unknown=("ZZ99",)))


def test_no_history_no_limit_and_pending_alone_is_zero() -> None:
    assert limit_in_force([], JAN1).amount is None
    only_pending = limit_in_force(versions(d(97_000, CoverStatus.PENDING, unknown=("X",))), JAN1)
    assert only_pending.amount == eur(0)
    assert only_pending.governing is None
    assert only_pending.latest is not None and only_pending.latest.sequence == 1


def test_an_unknown_code_keeps_the_last_known_decision() -> None:
    history = versions(d(50_000), d(278_000, CoverStatus.PENDING, unknown=("DC99",)))
    result = limit_in_force(history, date(2026, 3, 1))
    assert result.amount == eur(50_000)
    assert result.governing is history[0]
    assert result.latest is history[1]  # shown, not counted


def test_a_referred_increase_keeps_the_old_cover_until_decided() -> None:
    history = versions(d(50_000), d(80_000, CoverStatus.PENDING))
    assert limit_in_force(history, JAN1).amount == eur(50_000)
    history += [DecisionVersion(d(80_000), 3)]
    assert limit_in_force(history, JAN1).amount == eur(80_000)


def test_a_refused_increase_keeps_the_existing_cover() -> None:
    history = versions(d(50_000), d(50_000, CoverStatus.REFUSED))
    result = limit_in_force(history, JAN1)
    assert result.amount == eur(50_000)
    assert result.governing is history[1]


def test_next_change_is_the_first_tranche_end_not_a_later_one() -> None:
    tranches = (
        Tranche(eur(100_000), JAN1),
        Tranche(eur(20_000), JAN1, date(2026, 3, 1)),
        Tranche(eur(10_000), JAN1, date(2026, 6, 1)),
    )
    result = limit_in_force(versions(d(130_000, tranches=tranches)), date(2026, 2, 1))
    assert (result.amount, result.next_change, result.next_amount) == (
        eur(130_000),
        date(2026, 3, 1),
        eur(110_000),
    )
    after = limit_in_force(versions(d(130_000, tranches=tranches)), date(2026, 3, 1))
    assert (after.amount, after.next_change) == (eur(110_000), date(2026, 6, 1))


def test_next_change_is_an_announced_withdrawal_or_a_later_dated_decision() -> None:
    announced = d(50_000, to=date(2026, 4, 1), pending=PendingAction.WITHDRAWAL_NOTICE)
    result = limit_in_force(versions(announced), date(2026, 3, 1))
    assert (result.next_change, result.next_amount) == (date(2026, 4, 1), eur(0))
    assert result.status is CoverStatus.APPROVED
    withdrawn = limit_in_force(versions(announced), date(2026, 4, 1))
    assert (withdrawn.amount, withdrawn.status) == (eur(0), CoverStatus.WITHDRAWN)
    ended = limit_in_force(versions(d(50_000, to=date(2026, 4, 1))), date(2026, 4, 1))
    assert ended.status is CoverStatus.EXPIRED
    reduction = versions(d(100_000), d(40_000, CoverStatus.REDUCED, start=date(2026, 6, 1)))
    result = limit_in_force(reduction, date(2026, 5, 10))
    assert (result.amount, result.next_change, result.next_amount) == (
        eur(100_000),
        date(2026, 6, 1),
        eur(40_000),
    )
    # a pending version dated later announces nothing
    later_pending = versions(d(100_000), d(0, CoverStatus.PENDING, start=date(2026, 6, 1)))
    assert limit_in_force(later_pending, date(2026, 5, 10)).next_change is None


# -- properties -----------------------------------------------------------------------------

DAYS = 200
statuses = st.sampled_from(
    [
        CoverStatus.APPROVED,
        CoverStatus.PARTIALLY_APPROVED,
        CoverStatus.REDUCED,
        CoverStatus.REFUSED,
        CoverStatus.WITHDRAWN,
        CoverStatus.EXPIRED,
    ]
)
offsets = st.integers(min_value=0, max_value=DAYS)
amounts = st.integers(min_value=0, max_value=500_000)


@st.composite
def decisions(draw: st.DrawFn, known: bool) -> CoverDecision:
    start = JAN1 + timedelta(days=draw(offsets))
    parts = draw(
        st.lists(st.tuples(amounts, st.one_of(st.none(), offsets)), min_size=0, max_size=3)
    )
    tranches = tuple(
        Tranche(eur(a), start, None if e is None else start + timedelta(days=e + 1))
        for a, e in parts
    )
    to = draw(st.one_of(st.none(), offsets))
    if known:
        return d(
            sum(a for a, _ in parts),
            draw(statuses),
            start=start,
            tranches=tranches,
            to=None if to is None else start + timedelta(days=to + 1),
        )
    pending = draw(st.booleans())
    return d(
        sum(a for a, _ in parts),
        CoverStatus.PENDING if pending else draw(statuses),
        start=start,
        tranches=tranches,
        unknown=() if pending else ("ZZ99",),
    )


@given(
    st.lists(decisions(known=True), max_size=4),
    st.lists(st.tuples(decisions(known=False), st.integers(0, 4)), min_size=1, max_size=3),
    offsets,
)
def test_a_pending_or_unknown_version_never_changes_the_limit(
    known: list[CoverDecision], others: list[tuple[CoverDecision, int]], day: int
) -> None:
    history: list[CoverDecision] = list(known)
    for decision, at in others:
        history.insert(min(at, len(history)), decision)
    on = JAN1 + timedelta(days=day)
    with_others = limit_in_force(versions(*history), on)
    known_only = limit_in_force(versions(*known), on)
    if known:
        assert with_others.amount == known_only.amount
        assert with_others.next_change == known_only.next_change
    else:
        assert with_others.amount == eur(0)
        assert with_others.next_change is None


@given(st.lists(st.one_of(decisions(known=True), decisions(known=False)), max_size=5), offsets)
def test_the_limit_is_what_the_last_known_decision_gives(
    history: list[CoverDecision], day: int
) -> None:
    on = JAN1 + timedelta(days=day)
    stored = versions(*history)
    result = limit_in_force(stored, on)
    last_known = in_force([v for v in stored if is_decision(v.decision)], on)
    if not history:
        assert result.amount is None
        return
    expected = covered_limit(last_known.decision, on) if last_known else eur(0)
    assert result.amount == expected
    assert result.governing is last_known


@given(st.lists(st.one_of(decisions(known=True), decisions(known=False)), max_size=4), offsets)
def test_the_limit_holds_until_its_next_change(history: list[CoverDecision], day: int) -> None:
    on = JAN1 + timedelta(days=day)
    stored = versions(*history)
    result = limit_in_force(stored, on)
    end = result.next_change or on + timedelta(days=2 * DAYS + 10)
    probe = on + timedelta(days=1)
    while probe < end:
        later = limit_in_force(stored, probe)
        assert later.amount == result.amount and later.governing is result.governing
        probe += timedelta(days=1)
    if result.next_change is not None:
        changed = limit_in_force(stored, result.next_change)
        assert changed.amount == result.next_amount
        assert changed.amount != result.amount or changed.governing is not result.governing


def test_exposure_after_an_announced_withdrawal_took_effect() -> None:
    invoice = OpenItem(
        erp_account="C1",
        document_number="I1",
        kind=ItemKind.INVOICE,
        amount=eur(10_000),
        open_amount=eur(10_000),
        document_date=JAN1,
    )
    announced = d(50_000, to=date(2026, 4, 1), pending=PendingAction.WITHDRAWAL_NOTICE)
    before = compute_exposure([invoice], "EUR", versions(announced), date(2026, 3, 31))
    assert (before.status, before.covered, before.alerts) == (
        CoverStatus.APPROVED,
        eur(10_000),
        (AlertKind.PENDING_WITHDRAWAL,),
    )
    after = compute_exposure([invoice], "EUR", versions(announced), date(2026, 4, 1))
    assert (after.status, after.covered, after.alerts) == (
        CoverStatus.WITHDRAWN,
        eur(0),
        (AlertKind.UNCOVERED,),
    )
    pending_after = versions(d(50_000), d(90_000, CoverStatus.PENDING))
    shown = compute_exposure([invoice], "EUR", pending_after, date(2026, 4, 1))
    assert (shown.status, shown.limit) == (CoverStatus.PENDING, eur(50_000))
