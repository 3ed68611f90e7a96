"""Cover-change events raised by a sync (domain/alerts.py)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from tci_gateway.domain.alerts import SEVERITY, Alert, AlertKind, Severity, cover_events
from tci_gateway.domain.cover import CoverDecision, CoverStatus, PendingAction, Tranche
from tci_gateway.domain.money import Money

JAN1 = date(2026, 1, 1)
ON = date(2026, 3, 1)


def decision(
    amount: int | None = 100_000,
    status: CoverStatus = CoverStatus.APPROVED,
    *,
    pending: PendingAction | None = None,
    unknown: tuple[str, ...] = (),
    effective_from: date = JAN1,
) -> CoverDecision:
    money = Money(Decimal(amount or 0), "EUR")
    return CoverDecision(
        insurer_cover_ref="C1",
        status=status,
        currency="EUR",
        granted_amount=money,
        effective_from=effective_from,
        tranches=() if amount is None else (Tranche(money, effective_from),),
        pending_action=pending,
        unknown_codes=unknown,
    )


CASES = [
    # (id, previous, new, expected events)
    ("new", None, decision(100_000), [AlertKind.COVER_NEW]),
    ("new pending", None, decision(None, CoverStatus.PENDING), [AlertKind.COVER_PENDING]),
    ("new refused", None, decision(None, CoverStatus.REFUSED), [AlertKind.COVER_REFUSED]),
    (
        "granted after pending",
        decision(None, CoverStatus.PENDING),
        decision(50_000),
        [AlertKind.COVER_NEW],
    ),
    (
        "granted after refusal",
        decision(None, CoverStatus.REFUSED),
        decision(50_000),
        [AlertKind.COVER_NEW],
    ),
    ("increased", decision(100_000), decision(150_000), [AlertKind.COVER_INCREASED]),
    ("reduced", decision(100_000), decision(40_000), [AlertKind.COVER_REDUCED]),
    (
        "reduced by status",
        decision(100_000),
        decision(40_000, CoverStatus.REDUCED),
        [AlertKind.COVER_REDUCED],
    ),
    (
        "refused after pending",
        decision(None, CoverStatus.PENDING),
        decision(None, CoverStatus.REFUSED),
        [AlertKind.COVER_REFUSED],
    ),
    (
        "refused increase keeps cover",
        decision(100_000),
        decision(100_000, CoverStatus.REFUSED),
        [AlertKind.COVER_REFUSED],
    ),
    (
        "withdrawn",
        decision(100_000),
        decision(100_000, CoverStatus.WITHDRAWN),
        [AlertKind.COVER_WITHDRAWN],
    ),
    (
        "cancelled by insured",
        decision(100_000),
        decision(100_000, CoverStatus.CANCELLED_BY_INSURED),
        [AlertKind.COVER_WITHDRAWN],
    ),
    (
        "expired",
        decision(100_000),
        decision(100_000, CoverStatus.EXPIRED),
        [AlertKind.COVER_EXPIRED],
    ),
    (
        "withdrawal announced",
        decision(100_000),
        decision(100_000, pending=PendingAction.WITHDRAWAL_NOTICE),
        [AlertKind.PENDING_WITHDRAWAL],
    ),
    (
        "cancellation announced",
        decision(100_000),
        decision(100_000, pending=PendingAction.CANCELLATION_PENDING),
        [AlertKind.PENDING_WITHDRAWAL],
    ),
    (
        "withdrawal still announced",
        decision(100_000, pending=PendingAction.WITHDRAWAL_NOTICE),
        decision(100_000, pending=PendingAction.WITHDRAWAL_NOTICE),
        [],
    ),
    (
        "transfer pending is no withdrawal",
        decision(100_000),
        decision(100_000, pending=PendingAction.TRANSFER_PENDING),
        [],
    ),
    (
        "unknown code maps to pending",
        decision(100_000),
        decision(None, CoverStatus.PENDING, unknown=("ZZ99",)),
        [AlertKind.UNKNOWN_STATUS_CODE, AlertKind.COVER_PENDING],
    ),
    (
        "unknown code on a new buyer",
        None,
        decision(None, CoverStatus.PENDING, unknown=("ZZ99",)),
        [AlertKind.UNKNOWN_STATUS_CODE, AlertKind.COVER_PENDING],
    ),
    ("unchanged", decision(100_000), decision(100_000), []),
    (
        "unchanged pending",
        decision(None, CoverStatus.PENDING),
        decision(None, CoverStatus.PENDING),
        [],
    ),
    (
        "unchanged withdrawn",
        decision(100_000, CoverStatus.WITHDRAWN),
        decision(100_000, CoverStatus.WITHDRAWN),
        [],
    ),
    (
        "new with announced withdrawal",
        None,
        decision(100_000, pending=PendingAction.WITHDRAWAL_NOTICE),
        [AlertKind.COVER_NEW, AlertKind.PENDING_WITHDRAWAL],
    ),
]


@pytest.mark.parametrize(
    ("previous", "new", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_cover_events(
    previous: CoverDecision | None, new: CoverDecision, expected: list[AlertKind]
) -> None:
    assert cover_events(previous, new, ON) == expected


def test_a_future_dated_change_is_judged_when_it_takes_effect() -> None:
    jun1 = date(2026, 6, 1)
    # an increase effective later is an increase, not a drop to zero until June
    assert cover_events(decision(100_000), decision(150_000, effective_from=jun1), ON) == [
        AlertKind.COVER_INCREASED
    ]
    assert cover_events(decision(100_000), decision(40_000, effective_from=jun1), ON) == [
        AlertKind.COVER_REDUCED
    ]
    assert cover_events(None, decision(80_000, effective_from=jun1), ON) == [AlertKind.COVER_NEW]
    assert cover_events(decision(80_000), decision(80_000, effective_from=jun1), ON) == []


def test_a_backdated_change_is_judged_on_the_sync_date() -> None:
    # The previous version's seasonal tranche has expired by the sync date.
    seasonal = CoverDecision(
        "C1",
        CoverStatus.APPROVED,
        "EUR",
        Money(Decimal(150_000), "EUR"),
        JAN1,
        tranches=(
            Tranche(Money(Decimal(100_000), "EUR"), JAN1),
            Tranche(Money(Decimal(50_000), "EUR"), JAN1, expires_on=date(2026, 2, 1)),
        ),
    )
    assert cover_events(seasonal, decision(120_000), ON) == [AlertKind.COVER_INCREASED]


def test_every_alert_kind_has_a_severity() -> None:
    assert set(SEVERITY) == set(AlertKind)
    assert Alert(AlertKind.COVER_WITHDRAWN, "x").severity is Severity.CRITICAL
    assert Alert(AlertKind.PENDING_WITHDRAWAL, "x").severity is Severity.CRITICAL
    assert Alert(AlertKind.COVER_NEW, "x").severity is Severity.INFO
    assert Alert(AlertKind.OVER_LIMIT, "x").severity is Severity.WARNING
