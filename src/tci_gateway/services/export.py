"""The covered-limits export for the ERP: one row per buyer and policy.

The rows are the limits in force kept in the ledger (:mod:`tci_gateway.services.limits`),
rolled to the business date first; ``valid_to`` is the date the limit next changes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, TextIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from tci_gateway.domain.cover import NO_COVER
from tci_gateway.domain.money import minor_units, quantize_minor
from tci_gateway.domain.policy import Policy
from tci_gateway.erp.export import escape_cell, write_csv_cells
from tci_gateway.errors import ConfigError
from tci_gateway.ledger import limits as limit_repo
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.policies import policy_ids
from tci_gateway.ledger.tables import BuyerRow, ErpAccountRow
from tci_gateway.services.limits import roll_limits

LIMIT_COLUMNS = (
    "erp_accounts",
    "buyer_id",
    "buyer_name",
    "insurer",
    "policy",
    "status",
    "covered_amount",
    "currency",
    "valid_from",
    "valid_to",
    "decision_reference",
    "changed_at",
)
JSON_LIMIT_COLUMNS = (*LIMIT_COLUMNS, "raw_codes")
"""The JSON export also carries the insurer's raw codes of the decision."""


@dataclass(frozen=True)
class LimitRow:
    erp_accounts: tuple[str, ...]
    buyer_id: int
    buyer_name: str
    insurer: str
    policy: str
    status: str
    covered_amount: Decimal
    currency: str
    valid_from: date | None
    valid_to: date | None
    decision_reference: str | None
    changed_at: datetime | None
    raw_codes: Mapping[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "erp_accounts": ";".join(self.erp_accounts),
            "buyer_id": self.buyer_id,
            "buyer_name": self.buyer_name,
            "insurer": self.insurer,
            "policy": self.policy,
            "status": self.status,
            "covered_amount": self.covered_amount,
            "currency": self.currency,
            "valid_from": self.valid_from,
            "valid_to": self.valid_to,
            "decision_reference": self.decision_reference,
            "changed_at": self.changed_at.isoformat() if self.changed_at else None,
            "raw_codes": dict(self.raw_codes),
        }


def _no_cover(buyer_id: int, name: str, accounts: list[str], key: str, policy: Policy) -> LimitRow:
    """An ERP account's buyer with no decision at all: the ERP should see a zero limit."""
    return LimitRow(
        erp_accounts=tuple(sorted(accounts)),
        buyer_id=buyer_id,
        buyer_name=name,
        insurer=policy.insurer,
        policy=key,
        status=NO_COVER,
        covered_amount=quantize_minor(Decimal(0), policy.terms.currency),
        currency=policy.terms.currency,
        valid_from=None,
        valid_to=None,
        decision_reference=None,
        changed_at=None,
    )


@dataclass(frozen=True)
class LimitExport:
    rows: list[LimitRow]
    cursor: int
    """Give it back as ``changed_since`` next time to get only what changed since."""
    rolled: int = 0
    """How many limits the date roll before the export changed."""

    @property
    def ok(self) -> bool:
        """The one judgement of an export: always true for one returned (an export that
        cannot be written raises, and nothing is written)."""
        return True


class LimitStream:
    """An export being read (:func:`open_limits`): its cursor and the date roll's count
    known, its rows read from the ledger as they are asked for, one policy after the
    other (sorted by key), each in (buyer name, buyer id) order."""

    def __init__(
        self,
        session: Session,
        policies: Mapping[str, Policy],
        *,
        cursor: int,
        rolled: int,
        changed_since: int | None,
        raw_codes: bool,
    ) -> None:
        self._session = session
        self._policies = policies
        self.cursor = cursor
        """Give it back as ``changed_since`` next time to get only what changed since."""
        self.rolled = rolled
        """How many limits the date roll before the export changed."""
        self._changed_since = changed_since
        self._raw_codes = raw_codes

    def _policies_read(self) -> Iterator[tuple[str, Policy, Iterator[Any]]]:
        ids = policy_ids(self._session)
        for key, policy in sorted(self._policies.items()):
            if key in ids:
                rows = limit_repo.export_rows(
                    self._session,
                    ids[key],
                    changed_since=self._changed_since,
                    raw_codes=self._raw_codes,
                )
                yield key, policy, rows

    def rows(self) -> Iterator[LimitRow]:
        """The rows as :class:`LimitRow` (the JSON export, the API, the tests)."""
        for key, policy, rows in self._policies_read():
            zero = _quantized(Decimal(0), policy.terms.currency)
            for r in rows:
                bare = r.status is None
                yield LimitRow(
                    erp_accounts=_accounts(r.accounts),
                    buyer_id=r.buyer_id,
                    buyer_name=r.name,
                    insurer=policy.insurer,
                    policy=key,
                    status=NO_COVER if bare else r.status,
                    covered_amount=zero if bare else _quantized(r.amount, r.currency),
                    currency=policy.terms.currency if bare else r.currency,
                    valid_from=r.valid_from,
                    valid_to=r.valid_to,
                    decision_reference=r.reference,
                    changed_at=r.changed_at,
                    raw_codes=dict(r.raw_codes) if r.raw_codes else {},
                )

    def cells(self) -> Iterator[tuple[Any, ...]]:
        """The rows as the CSV's cells in :data:`LIMIT_COLUMNS` order, those of
        :data:`TEXT_CELLS` not yet escaped (:func:`write_limits_csv` escapes them; the
        others are ``int``, :class:`~datetime.date`, ``None`` or text that cannot start a
        formula: the policy's names escaped here, a status, an amount, an instant): no
        object per row, what a full export streams."""
        for key, policy, rows in self._policies_read():
            currency = policy.terms.currency
            zero = format(_quantized(Decimal(0), currency), "f")
            insurer, name_of_policy = escape_cell(policy.insurer), escape_cell(key)
            for accounts, buyer_id, name, status, amount, cur, frm, to, ref, at, _ in rows:
                if status is None:
                    yield (_account_text(accounts), buyer_id, name, insurer, name_of_policy,
                           NO_COVER, zero, currency, None, None, None, None)  # fmt: skip
                    continue
                yield (
                    _account_text(accounts),
                    buyer_id,
                    name,
                    insurer,
                    name_of_policy,
                    status,
                    format(_quantized(amount, cur), "f"),
                    cur,
                    frm,
                    to,
                    ref,
                    at.isoformat(),
                )


TEXT_CELLS = tuple(
    LIMIT_COLUMNS.index(c) for c in ("erp_accounts", "buyer_name", "currency", "decision_reference")
)
"""The cells of :meth:`LimitStream.cells` that may hold any text (escaped when written;
``status`` is one of the statuses the ledger's check allows, amounts are never negative)."""


def write_limits_csv(stream: LimitStream, handle: TextIO) -> int:
    """Write the export's CSV (:data:`LIMIT_COLUMNS`, the cells formula-escaped as
    :func:`~tci_gateway.erp.export.write_csv` does) as it is read; returns the rows."""
    return write_csv_cells(stream.cells(), LIMIT_COLUMNS, handle, TEXT_CELLS)


@contextmanager
def open_limits(
    ledger: Ledger,
    policies: Mapping[str, Policy],
    *,
    now: datetime,
    changed_since: int | None = None,
    raw_codes: bool = True,
) -> Iterator[LimitStream]:
    """:func:`export_limits` streamed: the date roll runs, then the block reads the rows
    (``stream.rows()`` or ``stream.cells()``) in one read-only transaction, which also
    gave the cursor. A cursor ahead of the ledger is refused before the block runs."""
    rolled = roll_limits(ledger, policies, now).total_changed
    with ledger.reading() as session:
        cursor = limit_repo.last_change_id(session)
        if changed_since is not None and changed_since > cursor:
            raise ConfigError(
                f"cursor {changed_since} is ahead of this ledger's last limit change "
                f"({cursor}): it was not printed by an export of this ledger (cursors "
                "printed before limits were kept in the ledger were decision ids); take a "
                "full export without --changed-since and keep its cursor"
            )
        yield LimitStream(
            session,
            policies,
            cursor=cursor,
            rolled=rolled,
            changed_since=changed_since,
            raw_codes=raw_codes,
        )


def export_limits(
    ledger: Ledger,
    policies: Mapping[str, Policy],
    *,
    now: datetime,
    changed_since: int | None = None,
    raw_codes: bool = True,
) -> LimitExport:
    """:func:`covered_limits`, full or only the buyers whose limit in force changed after
    the cursor ``changed_since`` for any reason: a new decision, an announced reduction or
    withdrawal taking effect, a tranche expiring. The date roll runs first, so an export
    is never stale. The cursor is the id of the last change in ``limit_changes``.
    ``raw_codes=False`` leaves the insurer's raw codes out (the CSV has no column).
    Holds every row in memory: :func:`open_limits` streams them."""
    with open_limits(
        ledger, policies, now=now, changed_since=changed_since, raw_codes=raw_codes
    ) as stream:
        rows = list(stream.rows())
    return LimitExport(rows, stream.cursor, stream.rolled)


def covered_limits(
    ledger: Ledger, policies: Mapping[str, Policy], *, now: datetime
) -> list[LimitRow]:
    """The limit in force today (in each policy's time zone) for every buyer with cover
    history, with the ERP accounts that map to the buyer under that policy, plus a
    ``NO_COVER`` row for each buyer that has ERP accounts under the policy but no
    decision. Rolls the stored limits to today first."""
    return export_limits(ledger, policies, now=now).rows


_EXPONENTS: dict[str, Decimal] = {}


def _quantized(amount: Decimal, currency: str) -> Decimal:
    """:func:`~tci_gateway.domain.money.quantize_minor` with the currency's exponent
    kept (the export quantizes every row)."""
    exp = _EXPONENTS.get(currency)
    if exp is None:
        exp = _EXPONENTS[currency] = Decimal(1).scaleb(-minor_units(currency))
    rounded = amount.quantize(exp, rounding=ROUND_HALF_EVEN)
    return rounded.copy_abs() if rounded.is_zero() else rounded


def _accounts(joined: str | None) -> tuple[str, ...]:
    return () if joined is None else tuple(sorted(joined.split(limit_repo.ACCOUNT_SEPARATOR)))


def _account_text(joined: str | None) -> str:
    """The ``erp_accounts`` cell: the accounts sorted, joined by ``;``."""
    if joined is None:
        return ""
    if limit_repo.ACCOUNT_SEPARATOR not in joined:
        return joined
    return ";".join(sorted(joined.split(limit_repo.ACCOUNT_SEPARATOR)))


def _limit_row(
    r: limit_repo.LimitRecord, key: str, policy: Policy, accounts: list[str], name: str
) -> LimitRow:
    s = r.state
    return LimitRow(
        erp_accounts=tuple(sorted(accounts)),
        buyer_id=r.buyer_id,
        buyer_name=name,
        insurer=policy.insurer,
        policy=key,
        status=s.status,
        covered_amount=_quantized(s.amount, s.currency),
        currency=s.currency,
        valid_from=s.valid_from,
        valid_to=s.valid_to,
        decision_reference=r.decision_reference,
        changed_at=r.changed_at,
        raw_codes=r.raw_codes or {},
    )


# -- the same export, a page at a time (the HTTP API) --------------------------------


class RollGate:
    """The date roll before a limits read, at most once per ``interval_s`` seconds for
    the same business dates (a serving process would otherwise roll on every request; a
    roll of a day already rolled reads one row per policy, but still one transaction).
    A new business date rolls at once; within the interval a decision that reached the
    ledger without a sync's refresh waits for the next roll, as it waits for the next
    export."""

    def __init__(self, interval_s: float = 60.0, clock: Callable[[], float] = time.monotonic):
        self.interval_s = interval_s
        self._clock = clock
        self._last: tuple[tuple[tuple[str, date], ...], float] | None = None
        self._lock = threading.Lock()

    def roll(self, ledger: Ledger, policies: Mapping[str, Policy], now: datetime) -> int:
        """Roll when due; returns how many limits the roll changed (0 when skipped)."""
        dates = tuple(sorted((k, p.terms.business_date(now)) for k, p in policies.items()))
        with self._lock:
            last = self._last
            if last is not None and last[0] == dates and self._clock() - last[1] < self.interval_s:
                return 0
            changed = roll_limits(ledger, policies, now).total_changed
            self._last = (dates, self._clock())
            return changed


@dataclass(frozen=True)
class LimitPage:
    """One page of the covered limits, in (policy key, buyer id) order."""

    rows: list[LimitRow]
    cursor: int
    """The changed-since cursor to give next time (the last change when paging began)."""
    after: tuple[str, int] | None
    """Where the next page starts (the last row's policy key and buyer id); ``None``:
    this is the last page."""


def limits_page(
    ledger: Ledger,
    policies: Mapping[str, Policy],
    *,
    limit: int,
    changed_since: int | None = None,
    after: tuple[str, int] | None = None,
    cursor: int | None = None,
    raw_codes: bool = True,
) -> LimitPage:
    """A page of :func:`export_limits` (same rows, same rules; the caller rolls the
    limits to today first, before the first page): at most ``limit`` rows after
    ``after``. The first page (``cursor`` ``None``) reads the cursor to hand back; the
    following pages carry it on, so the last page hands back what the first read. A
    limit that changes while the pages are read is sent as it then is, and again next
    time (its change is after the cursor). Reads only: no write lock."""
    rows: list[LimitRow] = []
    with ledger.reading() as session:
        last = limit_repo.last_change_id(session)
        if cursor is None:
            cursor = last
        if changed_since is not None and changed_since > cursor:
            raise ConfigError(
                f"cursor {changed_since} is ahead of this ledger's last limit change "
                f"({cursor}): it was not given by this ledger; read the limits without "
                "changed_since and keep the cursor given"
            )
        ids = policy_ids(session)
        keys = sorted(k for k in policies if k in ids and (after is None or k >= after[0]))
        for key in keys:
            start = after[1] if after is not None and key == after[0] else 0
            rows += _policy_page(
                session,
                key,
                policies[key],
                ids[key],
                start,
                limit + 1 - len(rows),
                changed_since,
                raw_codes,
            )
            if len(rows) > limit:
                break
    more = len(rows) > limit
    rows = rows[:limit]
    return LimitPage(rows, cursor, (rows[-1].policy, rows[-1].buyer_id) if more else None)


def _policy_page(
    session: Session,
    key: str,
    policy: Policy,
    pid: int,
    after: int,
    limit: int,
    changed_since: int | None,
    raw_codes: bool,
) -> list[LimitRow]:
    records = limit_repo.limit_records_page(
        session, pid, after=after, limit=limit, changed_since=changed_since, raw_codes=raw_codes
    )
    bare = (
        []
        if changed_since is not None
        else limit_repo.buyers_without_limit(session, pid, after=after, limit=limit)
    )
    buyers = sorted({r.buyer_id for r in records} | set(bare))[:limit]
    if not buyers:
        return []
    names: dict[int, str] = {
        b: n
        for b, n in session.execute(
            select(BuyerRow.id, BuyerRow.name).where(BuyerRow.id.in_(buyers))
        )
    }
    accounts: dict[int, list[str]] = {}
    for account, buyer_id in session.execute(
        select(ErpAccountRow.account, ErpAccountRow.buyer_id).where(
            ErpAccountRow.policy_id == pid, ErpAccountRow.buyer_id.in_(buyers)
        )
    ):
        accounts.setdefault(buyer_id, []).append(account)
    by_buyer = {r.buyer_id: r for r in records}
    out = []
    for b in buyers:
        record = by_buyer.get(b)
        name = names.get(b, "?")
        if record is None:
            out.append(_no_cover(b, name, accounts.get(b, []), key, policy))
        else:
            out.append(_limit_row(record, key, policy, accounts.get(b, []), name))
    return out
