"""Cover events judged by the limit in force, and what their messages quote."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from tci_gateway.domain.alerts import AlertKind, CoverChange, cover_change, event_message
from tci_gateway.domain.cover import CoverDecision, CoverStatus, DecisionVersion, Tranche
from tci_gateway.domain.money import Money

JAN1 = date(2026, 1, 1)
ON = date(2026, 3, 1)


def eur(value: int) -> Money:
    return Money(Decimal(value), "EUR")


def d(
    amount: int,
    status: CoverStatus = CoverStatus.APPROVED,
    *,
    requested: int | None = None,
    unknown: tuple[str, ...] = (),
    tranches: tuple[Tranche, ...] | None = None,
    start: date = JAN1,
) -> CoverDecision:
    return CoverDecision(
        insurer_cover_ref="C1",
        status=status,
        currency="EUR",
        granted_amount=eur(amount),
        effective_from=start,
        tranches=tranches if tranches is not None else (Tranche(eur(amount), start),),
        requested_amount=eur(requested) if requested is not None else None,
        raw_codes={"decisionCode": "DC05"} if status is CoverStatus.REFUSED else {},
        unknown_codes=unknown,
    )


def history(*decisions: CoverDecision) -> list[DecisionVersion]:
    return [DecisionVersion(x, n) for n, x in enumerate(decisions, start=1)]


def change(before: list[CoverDecision], new: CoverDecision) -> CoverChange:
    return cover_change(history(*before), DecisionVersion(new, len(before) + 1), ON)


def test_first_sync_of_a_refused_increase_is_one_alert_with_the_amount_standing() -> None:
    c = change([], d(50_000, CoverStatus.REFUSED, requested=80_000))
    assert c.events == (AlertKind.COVER_REFUSED,)
    assert c.refused_increase and c.today == eur(50_000)
    text = event_message(AlertKind.COVER_REFUSED, "Acme (1)", d(50_000, requested=80_000), c)
    assert text == (
        "increase of cover for Acme (1) to 80,000.00 EUR refused: the existing cover of "
        "50,000.00 EUR stands"
    )


def test_a_refused_increase_whose_kept_amount_changes_is_reduced_or_increased() -> None:
    refused = d(50_000, CoverStatus.REFUSED)
    assert change([refused], d(40_000, CoverStatus.REFUSED)).events == (AlertKind.COVER_REDUCED,)
    assert change([refused], d(60_000, CoverStatus.REFUSED)).events == (AlertKind.COVER_INCREASED,)
    assert change([refused], d(50_000, CoverStatus.REFUSED)).events == ()
    # from an approval to a refused increase keeping less: both are said
    assert change([d(50_000)], d(45_000, CoverStatus.REFUSED)).events == (
        AlertKind.COVER_REFUSED,
        AlertKind.COVER_REDUCED,
    )


def test_a_refusal_after_a_pending_increase_keeps_the_old_cover() -> None:
    c = change([d(50_000), d(90_000, CoverStatus.PENDING)], d(50_000, CoverStatus.REFUSED))
    assert c.events == (AlertKind.COVER_REFUSED,)
    assert (c.before, c.after) == (eur(50_000), eur(50_000))


def test_an_unknown_code_changes_no_limit_and_says_which_limit_stays() -> None:
    unknown = d(97_000, CoverStatus.PENDING, unknown=("DC99",))
    c = change([d(40_000)], unknown)
    assert c.events == (AlertKind.UNKNOWN_STATUS_CODE, AlertKind.COVER_PENDING)
    assert c.today == eur(40_000)
    text = event_message(AlertKind.UNKNOWN_STATUS_CODE, "Acme (1)", unknown, c)
    assert text == (
        "unknown status code(s) DC99 for Acme (1): treated as pending; the limit in force "
        "stays at 40,000.00 EUR until a status override maps the code"
    )
    assert change([], unknown).today == eur(0)


def test_an_approval_after_an_unknown_code_is_judged_against_the_last_known_decision() -> None:
    before = [d(40_000), d(97_000, CoverStatus.PENDING, unknown=("DC99",))]
    assert change(before, d(60_000)).events == (AlertKind.COVER_INCREASED,)
    assert change(before, d(40_000)).events == ()


def test_messages_never_quote_an_expired_tranche() -> None:
    seasonal = d(
        150_000,
        tranches=(Tranche(eur(100_000), JAN1), Tranche(eur(50_000), JAN1, date(2026, 2, 1))),
    )
    c = change([d(80_000)], seasonal)
    assert c.events == (AlertKind.COVER_INCREASED,)
    text = event_message(AlertKind.COVER_INCREASED, "Acme (1)", seasonal, c)
    assert text == "cover for Acme (1) increased from 80,000.00 EUR to 100,000.00 EUR"
    assert "150,000" not in text


def test_a_future_dated_reduction_quotes_both_amounts() -> None:
    later = d(40_000, CoverStatus.REDUCED, start=date(2026, 6, 1))
    c = change([d(100_000)], later)
    assert c.events == (AlertKind.COVER_REDUCED,)
    assert event_message(AlertKind.COVER_REDUCED, "Acme (1)", later, c) == (
        "cover for Acme (1) reduced from 100,000.00 EUR to 40,000.00 EUR from 2026-06-01; "
        "in force today: 100,000.00 EUR"
    )
