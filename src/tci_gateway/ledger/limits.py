"""Limits in force per (policy, buyer) kept as data, and the log of their changes.

``limits_in_force`` holds, per buyer and policy, the limit the domain rule
(:func:`tci_gateway.domain.cover.limit_in_force`) gives on the row's ``business_date``,
valid until ``valid_to`` (the date it next changes). Every change appends a row to
``limit_changes``, whose id is the ERP's changed-since cursor. The rule lives in the
domain; this module only reads and writes the rows.

Writers take one transaction-scoped lock (PostgreSQL advisory lock; SQLite has a single
writer already), so change ids are committed in the order they are assigned: a reader
that saw change ``n`` committed has seen every change below ``n``.
"""

from __future__ import annotations

import heapq
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import (
    Select,
    Table,
    case,
    func,
    literal,
    null,
    or_,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy.orm import Session

from tci_gateway.domain.cover import LimitChangeReason
from tci_gateway.ledger.bulk_rows import insert_rows, reserve_ids
from tci_gateway.ledger.locks import lock_key
from tci_gateway.ledger.tables import (
    BuyerRow,
    CoverDecisionRow,
    ErpAccountRow,
    LimitChangeRow,
    LimitInForceRow,
)

_LIMITS = cast(Table, LimitInForceRow.__table__)
_CHANGES = cast(Table, LimitChangeRow.__table__)
_DECISIONS = cast(Table, CoverDecisionRow.__table__)
_BUYERS = cast(Table, BuyerRow.__table__)
_ACCOUNTS = cast(Table, ErpAccountRow.__table__)
_CHANGE_COLUMNS = (
    "id",
    "policy_id",
    "buyer_id",
    "business_date",
    "amount",
    "currency",
    "reason",
    "created_at",
)
_LIMIT_COLUMNS = (
    "policy_id",
    "buyer_id",
    "decision_id",
    "status",
    "amount",
    "currency",
    "valid_from",
    "valid_to",
    "business_date",
    "change_id",
    "changed_at",
)
PAGE = 1000
"""Buyers per page of the date roll and the sync's refresh (also a bounded IN list)."""


@dataclass(frozen=True, slots=True)
class LimitState:
    """What the ERP is sent for one buyer and policy; a change of any field is a change."""

    decision_id: int | None
    status: str
    amount: Decimal
    currency: str
    valid_from: date | None
    valid_to: date | None


@dataclass(frozen=True, slots=True)
class StoredLimit:
    state: LimitState
    business_date: date


def lock_writers(session: Session) -> None:
    """Serialise the writers of limits until the transaction ends (see module doc)."""
    bind = session.get_bind()
    if bind.dialect.name != "postgresql":
        return
    schema = str(session.scalar(text("SELECT current_schema()")))
    session.execute(
        text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock_key(f"{schema}:limits_in_force")}
    )


def _state(row: Any) -> LimitState:
    return LimitState(
        row.decision_id, row.status, row.amount, row.currency, row.valid_from, row.valid_to
    )


def stored_limits(
    session: Session, policy_id: int, buyer_ids: Collection[int] | None = None
) -> dict[int, StoredLimit]:
    """The stored limits of a policy (or of some of its buyers), per buyer."""
    stmt = select(_LIMITS).where(_LIMITS.c.policy_id == policy_id)
    if buyer_ids is not None:
        stmt = stmt.where(_LIMITS.c.buyer_id.in_(sorted(buyer_ids)))
    return {
        row.buyer_id: StoredLimit(_state(row), row.business_date) for row in session.execute(stmt)
    }


def due_buyers(session: Session, policy_id: int, day: date) -> set[int]:
    """Buyers whose stored limit must be computed again on ``day``: those whose limit
    ends by then (``valid_to <= day``), those computed for another business date, and
    those with cover history but no stored limit yet. (Every one at once: the roll reads
    them a page at a time with :func:`due_buyer_pages`.)"""
    return {b for page in due_buyer_pages(session, policy_id, day) for b in page}


def due_buyer_pages(
    session: Session,
    policy_id: int,
    day: date,
    size: int | None = None,
    *,
    unstored: bool = True,
) -> Iterator[list[int]]:
    """The buyers of :func:`due_buyers`, at most ``size`` (default :data:`PAGE`) a page,
    in buyer id order; ``unstored=False`` leaves out the cover histories without a stored
    limit (the caller knows there are none: the policy was rolled through some date and
    nothing has cleared it since, ``ledger.policies.limits_rolled``).

    Two keyset-paged reads merged (the stored limits due, the cover histories without a
    stored limit), each resumed after its own last id, so the whole walk reads each index
    entry once however the due buyers are spread. The caller may write the limits of a
    page before asking for the next one: a limit it computed is no longer due, and those
    not yet reached are read after it."""
    limits = _LIMITS.c
    due = select(limits.buyer_id).where(
        limits.policy_id == policy_id, or_(limits.valid_to <= day, limits.business_date != day)
    )
    size = size or PAGE
    stored = _keyset(session, due, limits.buyer_id, size)
    merged = heapq.merge(stored, _unstored(session, policy_id, size)) if unstored else stored
    yield from _pages(merged, size)


def _unstored(session: Session, policy_id: int, size: int) -> Iterator[int]:
    """The buyers with cover history under the policy but no stored limit, in id order:
    the history's buyer ids a page at a time, less those of the page's id range that have
    a stored limit.

    Two range reads per page, not one anti-join: PostgreSQL keeps the plan of a
    statement psycopg has prepared, and an anti-join planned while ``limits_in_force``
    was still empty (the first fill writes it page by page on the same connection) probed
    it with a scan per history row: 5.9 s at 20k buyers, minutes at 100k. A stale plan of
    these reads costs at worst a scan per page."""
    limits = _LIMITS.c
    history = select(_DECISIONS.c.buyer_id).where(_DECISIONS.c.policy_id == policy_id).distinct()
    for page in _pages(_keyset(session, history, _DECISIONS.c.buyer_id, size), size):
        stored = set(
            session.scalars(
                select(limits.buyer_id).where(
                    limits.policy_id == policy_id, limits.buyer_id.between(page[0], page[-1])
                )
            )
        )
        yield from (b for b in page if b not in stored)


def policy_buyer_pages(
    session: Session, policy_id: int, *, run_id: int | None = None, size: int | None = None
) -> Iterator[list[int]]:
    """The buyers with cover history under a policy (``run_id``: those a sync run wrote a
    version for), at most ``size`` (default :data:`PAGE`) a page, in buyer id order."""
    size = size or PAGE
    stmt = select(_DECISIONS.c.buyer_id).where(_DECISIONS.c.policy_id == policy_id).distinct()
    if run_id is not None:
        stmt = stmt.where(_DECISIONS.c.sync_run_id == run_id)
    yield from _pages(_keyset(session, stmt, _DECISIONS.c.buyer_id, size), size)


def _keyset(session: Session, stmt: Select[Any], key: Any, size: int) -> Iterator[int]:
    """The ids ``stmt`` selects, read ``size`` at a time after the last one read."""
    after = 0
    while True:
        ids = [int(i) for i in session.scalars(stmt.where(key > after).order_by(key).limit(size))]
        yield from ids
        if len(ids) < size:
            return
        after = ids[-1]


def _pages(ids: Iterable[int], size: int) -> Iterator[list[int]]:
    """Sorted ids (duplicates dropped) in lists of at most ``size``."""
    page: list[int] = []
    last = None
    for i in ids:
        if i == last:
            continue
        last = i
        page.append(i)
        if len(page) == size:
            yield page
            page = []
    if page:
        yield page


def write_limits(
    session: Session,
    policy_id: int,
    computed: Iterable[tuple[int, LimitState]],
    before: Mapping[int, StoredLimit],
    *,
    day: date,
    reason: LimitChangeReason,
    now: datetime,
) -> int:
    """Store the limits computed on ``day`` against what was stored ``before`` (from
    :func:`stored_limits`); each one that differs appends a change. Returns how many
    changed. An unchanged limit is left as it is: :func:`mark_computed` dates it."""
    changed = [(b, s) for b, s in computed if b not in before or before[b].state != s]
    if not changed:
        return 0
    # ids reserved in order under the writers' lock, then one COPY / executemany per
    # table (an ``insert().returning()`` ran one statement per row on SQLite)
    ids = reserve_ids(session, _CHANGES, len(changed))
    insert_rows(
        session,
        _CHANGES,
        _CHANGE_COLUMNS,
        [
            (i, policy_id, b, day, s.amount, s.currency, reason.value, now)
            for i, (b, s) in zip(ids, changed, strict=True)
        ],
    )
    rows = [
        (policy_id, b, *_limit_values(s), day, change_id, now)
        for change_id, (b, s) in zip(ids, changed, strict=True)
    ]
    insert_rows(session, _LIMITS, _LIMIT_COLUMNS, [r for r in rows if r[1] not in before])
    old = [dict(zip(_LIMIT_COLUMNS, r, strict=True)) for r in rows if r[1] in before]
    if old:
        session.execute(update(LimitInForceRow), old)
    return len(changed)


def _limit_values(s: LimitState) -> tuple[Any, ...]:
    return (s.decision_id, s.status, s.amount, s.currency, s.valid_from, s.valid_to)


def mark_computed(
    session: Session, policy_id: int, day: date, buyer_ids: Collection[int] | None = None
) -> None:
    """Record that the limits of some buyers (``None``: all of the policy) were computed
    on ``day``."""
    if buyer_ids is None:
        session.execute(
            update(_LIMITS)
            .where(_LIMITS.c.policy_id == policy_id, _LIMITS.c.business_date != day)
            .values(business_date=day)
        )
        return
    ids = sorted(buyer_ids)
    for start in range(0, len(ids), 1000):
        session.execute(
            update(_LIMITS)
            .where(
                _LIMITS.c.policy_id == policy_id,
                _LIMITS.c.buyer_id.in_(ids[start : start + 1000]),
                _LIMITS.c.business_date != day,
            )
            .values(business_date=day)
        )


def last_change_id(session: Session) -> int:
    """The newest change id: the cursor an export hands the ERP (0 when none)."""
    return int(session.scalar(select(func.max(_CHANGES.c.id))) or 0)


def changed_since(session: Session, since: int, upto: int) -> set[tuple[int, int]]:
    """The (policy id, buyer id) pairs whose limit changed after ``since`` up to ``upto``."""
    return {
        (pid, bid)
        for pid, bid in session.execute(
            select(_CHANGES.c.policy_id, _CHANGES.c.buyer_id)
            .where(_CHANGES.c.id > since, _CHANGES.c.id <= upto)
            .distinct()
        )
    }


@dataclass(frozen=True, slots=True)
class LimitRecord:
    """A stored limit with the decision it comes from, as the export reads it."""

    policy_id: int
    buyer_id: int
    state: LimitState
    business_date: date
    changed_at: datetime
    change_id: int
    decision_reference: str | None
    raw_codes: dict[str, str] | None


def limit_records(
    session: Session,
    policy_id: int,
    *,
    raw_codes: bool = True,
    buyer_ids: Collection[int] | None = None,
) -> list[LimitRecord]:
    """The stored limits of a policy (``buyer_ids``: of those buyers only), with their
    decision's reference and (unless ``raw_codes`` is false: a CSV export has no column
    for them) its raw codes."""
    if buyer_ids is not None:
        wanted = sorted(buyer_ids)
        return [
            record
            for start in range(0, len(wanted), 1000)
            for record in _records(session, policy_id, raw_codes, wanted[start : start + 1000])
        ]
    return _records(session, policy_id, raw_codes, None)


def limit_records_page(
    session: Session,
    policy_id: int,
    *,
    after: int,
    limit: int,
    changed_since: int | None = None,
    raw_codes: bool = True,
) -> list[LimitRecord]:
    """Up to ``limit`` stored limits of a policy with a buyer id above ``after``, in buyer
    order (keyset paging); ``changed_since``: only those changed after that change id
    (a limit's ``change_id`` is its latest change)."""
    stmt = _select(raw_codes).where(_LIMITS.c.policy_id == policy_id, _LIMITS.c.buyer_id > after)
    if changed_since is not None:
        stmt = stmt.where(_LIMITS.c.change_id > changed_since)
    return _read(session, stmt.limit(limit))


def buyers_without_limit(session: Session, policy_id: int, *, after: int, limit: int) -> list[int]:
    """Up to ``limit`` buyers (id above ``after``, in order) with an ERP account under the
    policy but no stored limit: the export's ``NO_COVER`` rows."""
    accounts = ErpAccountRow.__table__.c
    stored = select(_LIMITS.c.buyer_id).where(
        _LIMITS.c.policy_id == policy_id, _LIMITS.c.buyer_id == accounts.buyer_id
    )
    return [
        int(b)
        for b in session.scalars(
            select(accounts.buyer_id)
            .where(accounts.policy_id == policy_id, accounts.buyer_id > after, ~stored.exists())
            .distinct()
            .order_by(accounts.buyer_id)
            .limit(limit)
        )
    ]


ACCOUNT_SEPARATOR = "\x1f"
"""Between the ERP accounts of one buyer in :func:`export_rows` (a control character no
account holds; the caller sorts and joins them with ``;`` as before)."""


def export_rows(
    session: Session,
    policy_id: int,
    *,
    changed_since: int | None = None,
    raw_codes: bool = True,
    batch: int = 2000,
) -> Iterator[Any]:
    """The covered-limits export of a policy straight from ``limits_in_force``, streamed
    (a server-side cursor on PostgreSQL, ``fetchmany`` batches on SQLite) in (buyer name,
    buyer id) order, code point order on both backends. Columns: ``accounts`` (the
    buyer's ERP accounts under the policy joined by :data:`ACCOUNT_SEPARATOR`, in no
    order; ``None``: none), ``buyer_id``, ``name``, ``status``, ``amount``, ``currency``,
    ``valid_from``, ``valid_to``, ``reference``, ``changed_at``, ``raw_codes``. A full
    export (``changed_since`` ``None``) adds the buyers with an ERP account under the
    policy but no stored limit, with ``status`` ``None``; ``changed_since``: only the
    limits whose latest change is after it (index on ``change_id``: proportional to the
    changes)."""
    postgres = session.get_bind().dialect.name == "postgresql"
    limits, buyers, accounts = _LIMITS.c, _BUYERS.c, _ACCOUNTS.c

    sep = literal(ACCOUNT_SEPARATOR)
    codes = _DECISIONS.c.raw_codes if raw_codes else null()
    limit_columns = (
        limits.buyer_id.label("buyer_id"),
        buyers.name.label("name"),
        limits.status.label("status"),
        limits.amount.label("amount"),
        limits.currency.label("currency"),
        limits.valid_from.label("valid_from"),
        limits.valid_to.label("valid_to"),
        _DECISIONS.c.insurer_cover_ref.label("reference"),
        limits.changed_at.label("changed_at"),
        codes.label("raw_codes"),
    )
    stored = _LIMITS.join(_BUYERS, buyers.id == limits.buyer_id).outerjoin(
        _DECISIONS, _DECISIONS.c.id == limits.decision_id
    )
    if changed_since is not None:
        # a look-up per changed limit; the policy filtered inside the aggregate so that
        # it is by buyer only (with both in WHERE, SQLite may scan the policy's index)
        account = case((accounts.policy_id == policy_id, accounts.account))
        agg = func.string_agg(account, sep) if postgres else func.group_concat(account, sep)
        joined = select(agg).where(accounts.buyer_id == limits.buyer_id).scalar_subquery()
        stmt: Any = (
            select(joined.label("accounts"), *limit_columns)
            .select_from(stored)
            # `+ 0`: read by the change_id index (the changes), not by the policy's key
            .where(limits.policy_id + 0 == policy_id, limits.change_id > changed_since)
        )
    else:
        # every buyer with an ERP account under the policy once, joined by hash or merge
        agg = (
            func.string_agg(accounts.account, sep)
            if postgres
            else func.group_concat(accounts.account, sep)
        )
        per_buyer = (
            select(accounts.buyer_id.label("buyer_id"), agg.label("accounts"))
            .where(accounts.policy_id == policy_id)
            .group_by(accounts.buyer_id)
            .subquery()
        )
        with_limit = (
            select(per_buyer.c.accounts, *limit_columns)
            .select_from(stored.outerjoin(per_buyer, per_buyer.c.buyer_id == limits.buyer_id))
            .where(limits.policy_id == policy_id)
        )
        has_limit = select(limits.buyer_id).where(
            limits.policy_id == policy_id, limits.buyer_id == per_buyer.c.buyer_id
        )
        bare = (
            select(per_buyer.c.accounts, buyers.id, buyers.name, *[null()] * 8)
            .select_from(per_buyer.join(_BUYERS, buyers.id == per_buyer.c.buyer_id))
            .where(~has_limit.exists())
        )
        stmt = select(union_all(with_limit, bare).subquery())
    name = stmt.selected_columns.name
    order = name.collate("C") if postgres else name
    stmt = stmt.order_by(order, stmt.selected_columns.buyer_id)
    return iter(session.execute(stmt, execution_options={"yield_per": batch}))


def _select(raw_codes: bool) -> Select[Any]:
    codes = _DECISIONS.c.raw_codes if raw_codes else null().label("raw_codes")
    return (
        select(_LIMITS, _DECISIONS.c.insurer_cover_ref, codes)
        .select_from(_LIMITS.outerjoin(_DECISIONS, _DECISIONS.c.id == _LIMITS.c.decision_id))
        .order_by(_LIMITS.c.buyer_id)
    )


def _records(
    session: Session, policy_id: int, raw_codes: bool, buyer_ids: list[int] | None
) -> list[LimitRecord]:
    stmt = _select(raw_codes).where(_LIMITS.c.policy_id == policy_id)
    if buyer_ids is not None:
        stmt = stmt.where(_LIMITS.c.buyer_id.in_(buyer_ids))
    return _read(session, stmt)


def _read(session: Session, stmt: Select[Any]) -> list[LimitRecord]:
    return [
        LimitRecord(
            row.policy_id,
            row.buyer_id,
            _state(row),
            row.business_date,
            row.changed_at,
            row.change_id,
            row.insurer_cover_ref,
            dict(row.raw_codes) if row.raw_codes is not None else None,
        )
        for row in session.execute(stmt)
    ]
