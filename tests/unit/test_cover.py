"""Effective-dated cover and the covered limit on a date (docs/domain.md, section 3)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tci_gateway.domain.cover import (
    ENDED_STATUSES,
    CoverDecision,
    CoverStatus,
    DecisionVersion,
    PendingAction,
    Tranche,
    covered_limit,
    in_force,
    is_stale,
)
from tci_gateway.domain.money import CurrencyMismatchError, Money

JAN1 = date(2026, 1, 1)
JUN1 = date(2026, 6, 1)


def eur(value: int | str) -> Money:
    return Money(Decimal(value), "EUR")


def decision(
    amount: int | None = 100_000,
    *,
    status: CoverStatus = CoverStatus.APPROVED,
    effective_from: date = JAN1,
    effective_to: date | None = None,
    tranches: tuple[Tranche, ...] | None = None,
    changed: datetime | None = None,
    decided: datetime | None = None,
    pending: PendingAction | None = None,
    ref: str = "C1",
) -> CoverDecision:
    if tranches is None:
        tranches = () if amount is None else (Tranche(eur(amount), effective_from),)
    return CoverDecision(
        insurer_cover_ref=ref,
        status=status,
        currency="EUR",
        granted_amount=eur(amount or 0),
        effective_from=effective_from,
        tranches=tranches,
        effective_to=effective_to,
        last_changed_at=changed,
        decided_at=decided,
        pending_action=pending,
    )


# -- covered_limit -----------------------------------------------------------------------


def test_no_decision_means_no_limit() -> None:
    assert covered_limit(None, JAN1) is None


@pytest.mark.parametrize("status", sorted(ENDED_STATUSES))
def test_ended_statuses_give_zero_even_with_tranches(status: CoverStatus) -> None:
    assert covered_limit(decision(100_000, status=status), date(2026, 3, 1)) == eur(0)


@pytest.mark.parametrize(
    "status",
    [
        CoverStatus.APPROVED,
        CoverStatus.PARTIALLY_APPROVED,
        CoverStatus.REDUCED,
        CoverStatus.REFUSED,  # a refused increase keeps the existing cover as its amount
        CoverStatus.PENDING,
    ],
)
def test_live_statuses_count_their_tranches(status: CoverStatus) -> None:
    assert covered_limit(decision(75_000, status=status), date(2026, 3, 1)) == eur(75_000)


def test_refused_and_pending_without_tranches_are_zero() -> None:
    assert covered_limit(decision(None, status=CoverStatus.REFUSED), JAN1) == eur(0)
    assert covered_limit(decision(None, status=CoverStatus.PENDING), JAN1) == eur(0)


def test_ended_statuses_are_exactly_the_ones_that_end_cover() -> None:
    assert CoverStatus.REFUSED not in ENDED_STATUSES
    assert CoverStatus.PENDING not in ENDED_STATUSES
    assert {CoverStatus.WITHDRAWN, CoverStatus.EXPIRED, CoverStatus.SUPERSEDED} <= ENDED_STATUSES


def test_effective_from_and_effective_to_boundaries() -> None:
    d = decision(50_000, effective_from=date(2026, 2, 1), effective_to=date(2026, 5, 1))
    assert covered_limit(d, date(2026, 1, 31)) == eur(0)
    assert covered_limit(d, date(2026, 2, 1)) == eur(50_000)  # first day counts
    assert covered_limit(d, date(2026, 4, 30)) == eur(50_000)
    assert covered_limit(d, date(2026, 5, 1)) == eur(0)  # effective_to is the first day off
    assert covered_limit(d, date(2027, 1, 1)) == eur(0)


def test_tranches_with_their_own_expiry() -> None:
    d = decision(
        tranches=(
            Tranche(eur(60_000), JAN1),
            Tranche(eur(40_000), JAN1, expires_on=date(2026, 3, 31)),  # seasonal top-up
            Tranche(eur(25_000), date(2026, 2, 15)),
        )
    )
    assert covered_limit(d, date(2026, 2, 14)) == eur(100_000)
    assert covered_limit(d, date(2026, 2, 15)) == eur(125_000)
    assert covered_limit(d, date(2026, 3, 30)) == eur(125_000)
    # not counted on the expiry date itself
    assert covered_limit(d, date(2026, 3, 31)) == eur(85_000)
    assert covered_limit(d, date(2026, 12, 31)) == eur(85_000)


def test_tranche_valid_on() -> None:
    t = Tranche(eur(1), date(2026, 1, 10), expires_on=date(2026, 1, 20))
    assert not t.valid_on(date(2026, 1, 9))
    assert t.valid_on(date(2026, 1, 10))
    assert t.valid_on(date(2026, 1, 19))
    assert not t.valid_on(date(2026, 1, 20))
    assert Tranche(eur(1), date(2026, 1, 10)).valid_on(date(2999, 1, 1))


def test_a_tranche_in_another_currency_is_not_silently_added() -> None:
    d = decision(tranches=(Tranche(Money(Decimal(1), "USD"), JAN1),))
    with pytest.raises(CurrencyMismatchError):
        covered_limit(d, JAN1)


def test_raw_codes_are_frozen_and_compare_by_content() -> None:
    codes = {"status": "DC02"}
    a = CoverDecision("C1", CoverStatus.APPROVED, "EUR", eur(1), JAN1, raw_codes=codes)
    codes["status"] = "changed"
    assert a.raw_codes["status"] == "DC02"
    with pytest.raises(TypeError):
        a.raw_codes["x"] = "y"  # type: ignore[index]
    b = CoverDecision("C1", CoverStatus.APPROVED, "EUR", eur(1), JAN1, raw_codes={"status": "DC02"})
    assert a == b and hash(a) == hash(b) and a.same_content(b)
    c = CoverDecision("C1", CoverStatus.APPROVED, "EUR", eur(1), JAN1, raw_codes={"status": "X"})
    assert not a.same_content(c)


# -- in_force ------------------------------------------------------------------------------


def test_design_example_reduction_governs_from_its_effective_date() -> None:
    original = DecisionVersion(decision(100_000, effective_from=JAN1), sequence=1)
    reduced = DecisionVersion(
        decision(40_000, status=CoverStatus.REDUCED, effective_from=JUN1), sequence=2
    )
    versions = [original, reduced]

    def limit(on: date) -> Money | None:
        v = in_force(versions, on)
        return covered_limit(v.decision if v else None, on)

    assert in_force(versions, date(2025, 12, 31)) is None
    assert limit(date(2025, 12, 31)) is None
    assert limit(date(2026, 5, 10)) == eur(100_000)
    assert limit(date(2026, 5, 31)) == eur(100_000)
    assert limit(JUN1) == eur(40_000)
    assert limit(date(2026, 6, 15)) == eur(40_000)
    assert in_force(list(reversed(versions)), date(2026, 5, 10)) is original


def test_a_later_insurer_change_wins_for_the_same_effective_date() -> None:
    t0 = datetime(2026, 1, 1, 9, tzinfo=UTC)
    corrected = DecisionVersion(decision(80_000, changed=t0 + timedelta(hours=2)), sequence=1)
    original = DecisionVersion(decision(100_000, changed=t0), sequence=2)  # recorded later
    assert in_force([corrected, original], JAN1) is corrected
    assert in_force([original, corrected], JAN1) is corrected


def test_decided_at_stands_in_for_a_missing_change_time() -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    a = DecisionVersion(decision(1, decided=t0 + timedelta(days=1)), sequence=1)
    b = DecisionVersion(decision(2, changed=t0), sequence=2)
    assert in_force([a, b], JAN1) is a


def test_the_latest_recorded_wins_when_nothing_else_differs() -> None:
    a = DecisionVersion(decision(1), sequence=1)
    b = DecisionVersion(decision(2), sequence=2)
    assert in_force([a, b], JAN1) is b
    assert in_force([b, a], JAN1) is b


def test_in_force_accepts_any_iterable() -> None:
    a = DecisionVersion(decision(1), sequence=1)
    assert in_force(iter([a]), JAN1) is a
    assert in_force([], JAN1) is None


# -- is_stale ---------------------------------------------------------------------------------


def test_is_stale() -> None:
    t0 = datetime(2026, 3, 1, 12, tzinfo=UTC)
    newer, older = decision(changed=t0), decision(changed=t0 - timedelta(seconds=1))
    assert is_stale(older, newer)
    assert not is_stale(newer, older)
    assert not is_stale(newer, newer)  # same instant: not older
    assert not is_stale(decision(changed=None), newer)
    assert not is_stale(older, decision(changed=None))


def test_is_stale_compares_instants_not_wall_clocks() -> None:
    paris = datetime(2026, 3, 1, 13, 0, tzinfo=UTC).astimezone(ZoneInfo("Europe/Paris"))
    utc_later = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)  # earlier wall clock, later instant
    assert is_stale(decision(changed=utc_later), decision(changed=paris))


# -- properties -------------------------------------------------------------------------------

days = st.integers(min_value=0, max_value=30).map(lambda n: JAN1 + timedelta(days=n))
instants = st.one_of(
    st.none(),
    st.integers(min_value=0, max_value=5).map(
        lambda n: datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=n)
    ),
)


@st.composite
def version_lists(draw: st.DrawFn) -> list[DecisionVersion]:
    n = draw(st.integers(min_value=1, max_value=8))
    sequences = draw(st.lists(st.integers(0, 1000), min_size=n, max_size=n, unique=True))
    return [
        DecisionVersion(
            decision(
                draw(st.integers(0, 10)) * 10_000,
                effective_from=draw(days),
                changed=draw(instants),
                ref=f"C{i}",
            ),
            sequence=seq,
        )
        for i, seq in enumerate(sequences)
    ]


@given(st.data(), version_lists(), days)
def test_in_force_does_not_depend_on_input_order(
    data: st.DataObject, versions: list[DecisionVersion], on: date
) -> None:
    shuffled = data.draw(st.permutations(versions))
    assert in_force(shuffled, on) is in_force(versions, on)


@given(version_lists(), days)
def test_in_force_picks_a_version_already_effective(
    versions: list[DecisionVersion], on: date
) -> None:
    chosen = in_force(versions, on)
    effective = [v for v in versions if v.decision.effective_from <= on]
    if not effective:
        assert chosen is None
        return
    assert chosen is not None
    assert chosen.decision.effective_from == max(v.decision.effective_from for v in effective)
