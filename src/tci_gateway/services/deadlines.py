"""The deadline scan: which buyers are overdue under which policy, and what is due.

The scan reads each policy in keyset pages of buyers (:func:`scan_pages`): the next
:data:`PAGE_SIZE` ERP accounts of the policy in buyer order, the oldest overdue invoice
of each (its due date in force, :func:`effective_due_sql`) aggregated per account by the
accounts' ids, then per buyer. The clock
(:func:`~tci_gateway.domain.deadlines.deadline_clock`) and the buyer tier's escalation
path (:func:`~tci_gateway.domain.escalation.due_steps`) then say what is due. A buyer
whose open case has notified the insurer runs under the clock of that case instead
(:func:`notified_clocks`): paying the oldest invoice does not push its claim later.
Memory holds one page of overdue buyers, never all of them nor the open items.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Integer,
    Select,
    any_,
    bindparam,
    case,
    func,
    literal_column,
    select,
    text,
)
from sqlalchemy.orm import Session

from tci_gateway.domain.cases import CaseState
from tci_gateway.domain.deadlines import DeadlineClock, DeadlineWarning, deadline_clock, warnings
from tci_gateway.domain.escalation import NOTIFYING, DueStep, EscalationPath, due_steps
from tci_gateway.domain.policy import Policy, PolicyTerms
from tci_gateway.domain.receivables import ItemKind
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.policies import policy_ids
from tci_gateway.ledger.tables import (
    BuyerRow,
    CaseActionRow,
    ClaimCaseRow,
    ErpAccountRow,
    OpenItemRow,
)


@dataclass(frozen=True)
class OverdueBuyer:
    """A buyer with overdue invoices under a policy, with its clock and due steps."""

    policy: Policy
    policy_id: int
    buyer_id: int
    buyer_name: str
    tier: str
    today: date
    clock: DeadlineClock
    overdue_invoices: int
    steps: tuple[DueStep, ...]
    warnings: tuple[DeadlineWarning, ...]
    path: EscalationPath
    lead_days: tuple[int, ...]
    case_id: int | None = None
    """The open case whose clock this is, once that case has notified the insurer."""


def anchored(ob: OverdueBuyer, case_id: int, clock: DeadlineClock) -> OverdueBuyer:
    """``ob`` under the clock of its notified case ``case_id``: once the insurer has been
    notified, a case keeps the clock it was notified under (paying the oldest invoice
    does not push the claim deadlines later)."""
    if clock == ob.clock:
        return replace(ob, case_id=case_id)
    return replace(
        ob,
        case_id=case_id,
        clock=clock,
        steps=tuple(due_steps(ob.path, ob.policy.terms, clock, ob.today)),
        warnings=tuple(warnings(clock, ob.today, ob.lead_days)),
    )


def open_cases(
    policy_id: int, buyers: tuple[int | None, int | None] = (None, None)
) -> Select[ClaimCaseRow]:
    """The policy's open cases; ``buyers``: only those of the buyer ids in (after, upto],
    either end ``None`` for open (a page of the scan)."""
    after, upto = buyers
    stmt = select(ClaimCaseRow).where(
        ClaimCaseRow.policy_id == policy_id, ClaimCaseRow.state == CaseState.OPEN
    )
    if after is not None:
        stmt = stmt.where(ClaimCaseRow.buyer_id > after)
    if upto is not None:
        stmt = stmt.where(ClaimCaseRow.buyer_id <= upto)
    return stmt


def notified_clocks(
    session: Session,
    policy_id: int,
    terms: PolicyTerms,
    *,
    buyers: tuple[int | None, int | None] = (None, None),
) -> dict[int, tuple[int, DeadlineClock]]:
    """The clock each open case of the policy that has notified the insurer runs under
    (the deadlines stored on the case when it was notified), by buyer id; ``buyers``:
    only the buyer ids in (after, upto], either end ``None`` for open."""
    cases = {row.id: row for row in session.scalars(open_cases(policy_id, buyers))}
    if not cases:
        return {}
    # The cases' own actions by case id (an index look-up), not a semi-join that reads
    # every notifying action of the ledger once per page.
    notified = session.scalars(
        select(CaseActionRow.case_id)
        .where(
            among(session, CaseActionRow.case_id.expression, list(cases)),
            CaseActionRow.action.in_(NOTIFYING),
        )
        .distinct()
    )
    return {
        row.buyer_id: (
            row.id,
            DeadlineClock(
                original_due_date=row.due_date,
                due_date=row.due_date,
                cover_stop=row.cover_stop,
                notify_by=row.notify_by,
                date_of_loss=row.date_of_loss,
                claim_by=row.claim_by,
                timezone=terms.timezone,
            ),
        )
        for row in (cases[case_id] for case_id in notified)
    }


def effective_due_sql(terms: PolicyTerms) -> ColumnElement[date | None]:
    """An open item's due date in force, in SQL: a mirror of
    :func:`~tci_gateway.domain.deadlines.effective_due_date` (the extension moves the
    date only when the policy says so and only later; a NULL on either side compares
    as unknown, so the ERP's date stands). tests/services/test_effective_due_date.py
    proves the two agree on every combination, on SQLite and PostgreSQL."""
    if terms.extension_moves_deadlines:
        return case(
            (OpenItemRow.extended_due_date > OpenItemRow.due_date, OpenItemRow.extended_due_date),
            else_=OpenItemRow.due_date,
        )
    return OpenItemRow.due_date.expression


def _overdue_items(policy: Policy, today: date) -> tuple[ColumnElement[bool], ...]:
    """Open invoices past their due date in force: in SQL what
    :func:`~tci_gateway.domain.deadlines.is_overdue` says."""
    return (
        OpenItemRow.kind == ItemKind.INVOICE.value,
        OpenItemRow.open_amount > 0,
        effective_due_sql(policy.terms) < today,
    )


def overdue_where(policy: Policy, policy_id: int, today: date) -> tuple[ColumnElement[bool], ...]:
    """Open invoices of the policy's ERP accounts past their due date in force."""
    return (ErpAccountRow.policy_id == policy_id, *_overdue_items(policy, today))


def known_policies(
    session: Session, policies: Mapping[str, Policy]
) -> Iterator[tuple[Policy, int]]:
    """The configured policies the ledger knows, with their ids, in key order."""
    ids = policy_ids(session)
    for key, policy in sorted(policies.items()):
        if key in ids:
            yield policy, ids[key]


PAGE_SIZE = 1000
"""ERP accounts per keyset page of the scan (overdue buyers per streamed page): memory
holds one page's overdue buyers."""


@dataclass(frozen=True)
class ScanPage:
    """One keyset page of a policy's scan: its overdue buyers whose id is in
    (``after``, ``upto``], in buyer order. The pages of a policy cover every buyer id
    once: the first has ``after`` ``None`` (or the caller's start), the last ``upto``
    ``None`` (to the end), each next page starts after the one before."""

    policy: Policy
    policy_id: int
    today: date
    after: int | None
    upto: int | None
    buyers: tuple[OverdueBuyer, ...]


@dataclass
class _PolicyScan:
    """What one policy's scan needs on one day; ``cache`` keeps clock, due steps and
    warnings, which depend only on (tier, oldest due date): a few thousand distinct
    pairs for a hundred thousand overdue buyers, bounded by the dates, not the buyers."""

    policy: Policy
    policy_id: int
    paths: Mapping[str, EscalationPath]
    default_tier: str
    today: date
    lead_days: tuple[int, ...]
    cache: dict[
        tuple[str, date], tuple[DeadlineClock, tuple[DueStep, ...], tuple[DeadlineWarning, ...]]
    ] = field(default_factory=dict)
    cases: bool = True
    """Whether the policy had an open case when the scan began: if not, no page looks for
    notified cases (cases the caller opens meanwhile are its pages' buyers', not the
    later pages')."""

    def read_page(self, session: Session, after: int | None, size: int) -> ScanPage:
        """The page of overdue buyers after buyer id ``after``: the next ``size`` ERP
        accounts of the policy in buyer order (and the last buyer's other accounts), their
        overdue invoices aggregated per account by the accounts' ids (index look-ups,
        whatever the ledger's size), then per buyer here."""
        accounts, upto = _accounts_page(session, self.policy_id, after, size)
        oldest: dict[int, tuple[date, int]] = {}
        names = {buyer: (name, tier) for _, buyer, name, tier in accounts}
        if accounts:
            due = effective_due_sql(self.policy.terms)
            per_account = select(OpenItemRow.erp_account_id, func.min(due), func.count()).where(
                among(session, OpenItemRow.erp_account_id.expression, [a[0] for a in accounts]),
                *_overdue_items(self.policy, self.today),
            )
            by_account = {a[0]: a[1] for a in accounts}
            for account, first_due, count in session.execute(
                per_account.group_by(OpenItemRow.erp_account_id)
            ):
                assert first_due is not None  # the WHERE clause compares it with a date
                buyer = by_account[account]
                known = oldest.get(buyer)
                if known is not None:
                    first_due, count = min(first_due, known[0]), count + known[1]
                oldest[buyer] = (first_due, count)
        rows = [(b, *names[b], *oldest[b]) for b in sorted(oldest)]
        return self._page(session, after, upto, rows)

    def stream_pages(self, session: Session, after: int | None, size: int) -> Iterator[ScanPage]:
        """The pages after buyer id ``after`` from one grouped query over the policy's
        overdue invoices, streamed (a server-side cursor on PostgreSQL, ``size`` rows at a
        time) and cut into pages of ``size`` overdue buyers (PostgreSQL only: see
        :func:`scan_pages`). The keyset pages' index look-ups visit a heap block per
        invoice where a buyer's invoices lie scattered (2-2.5x this query's time at 1M
        open items); one sequential read does not."""
        due = effective_due_sql(self.policy.terms)
        stmt = (
            select(
                ErpAccountRow.buyer_id, BuyerRow.name, BuyerRow.tier, func.min(due), func.count()
            )
            .select_from(OpenItemRow)
            .join(ErpAccountRow, ErpAccountRow.id == OpenItemRow.erp_account_id)
            .join(BuyerRow, BuyerRow.id == ErpAccountRow.buyer_id)
            .where(*overdue_where(self.policy, self.policy_id, self.today))
        )
        if after is not None:
            stmt = stmt.where(ErpAccountRow.buyer_id > after)
        stmt = (
            stmt.group_by(ErpAccountRow.buyer_id, BuyerRow.name, BuyerRow.tier)
            .order_by(ErpAccountRow.buyer_id)
            .execution_options(yield_per=size)
        )
        # A cursor is planned for its first tenth by default: PostgreSQL then picks the
        # index nested loop this streaming avoids. Planned for all of it; reset once the
        # cursor is open, the caller's transaction goes on with its own settings.
        session.execute(text("SET LOCAL cursor_tuple_fraction = 1.0"))
        result = session.execute(stmt)
        session.execute(text("SET LOCAL cursor_tuple_fraction TO DEFAULT"))
        rows: list[tuple[int, str, str | None, date, int]] = []
        for buyer_id, name, tier, oldest_due, count in result:
            assert oldest_due is not None  # the WHERE clause compares it with a date
            rows.append((buyer_id, name, tier, oldest_due, count))
            if len(rows) == size:
                page = self._page(session, after, buyer_id, rows)
                yield page
                after, rows = buyer_id, []
        yield self._page(session, after, None, rows)

    def _page(
        self,
        session: Session,
        after: int | None,
        upto: int | None,
        rows: list[tuple[int, str, str | None, date, int]],
    ) -> ScanPage:
        """The page of (buyer id, name, tier, oldest overdue due date, overdue invoices),
        in buyer order, each under its notified case's clock if it has one."""
        notified = (
            notified_clocks(session, self.policy_id, self.policy.terms, buyers=(after, upto))
            if self.cases
            else {}
        )
        found = []
        for buyer_id, name, tier, oldest_due, count in rows:
            ob = self._overdue_buyer(buyer_id, name, tier, oldest_due, count)
            case_clock = notified.get(buyer_id)
            found.append(ob if case_clock is None else anchored(ob, *case_clock))
        return ScanPage(self.policy, self.policy_id, self.today, after, upto, tuple(found))

    def _overdue_buyer(
        self, buyer_id: int, name: str, tier: str | None, oldest_due: date, count: int
    ) -> OverdueBuyer:
        tier_name = tier if tier is not None and tier in self.paths else self.default_tier
        key = (tier_name, oldest_due)
        known = self.cache.get(key)
        if known is None:
            terms = self.policy.terms
            clock = deadline_clock(terms, oldest_due)
            known = self.cache[key] = (
                clock,
                tuple(due_steps(self.paths[tier_name], terms, clock, self.today)),
                tuple(warnings(clock, self.today, self.lead_days)),
            )
        return OverdueBuyer(
            policy=self.policy,
            policy_id=self.policy_id,
            buyer_id=buyer_id,
            buyer_name=name,
            tier=tier_name,
            today=self.today,
            clock=known[0],
            overdue_invoices=count,
            steps=known[1],
            warnings=known[2],
            path=self.paths[tier_name],
            lead_days=self.lead_days,
        )


def _accounts_page(
    session: Session, policy_id: int, after: int | None, size: int
) -> tuple[list[tuple[int, int, str, str | None]], int | None]:
    """The next ``size`` ERP accounts of the policy (account id, buyer id, the buyer's
    name and tier) in buyer order after buyer ``after``, with the last buyer's further
    accounts; and the page's last buyer id (``None`` when the page reaches the end)."""
    stmt = (
        select(ErpAccountRow.id, ErpAccountRow.buyer_id, BuyerRow.name, BuyerRow.tier)
        .join(BuyerRow, BuyerRow.id == ErpAccountRow.buyer_id)
        .where(ErpAccountRow.policy_id == policy_id)
    )
    if after is not None:
        # On both sides of the join: PostgreSQL merges the two indexes from ``after``
        # on, not from the first buyer.
        stmt = stmt.where(ErpAccountRow.buyer_id > after, BuyerRow.id > after)
    rows = [
        (a, b, name, tier)
        for a, b, name, tier in session.execute(
            stmt.order_by(ErpAccountRow.buyer_id, ErpAccountRow.id).limit(size)
        )
    ]
    if len(rows) < size:
        return rows, None
    upto, last = rows[-1][1], rows[-1][0]
    rest = stmt.where(ErpAccountRow.buyer_id == upto, ErpAccountRow.id > last)
    rows.extend((a, b, name, tier) for a, b, name, tier in session.execute(rest))
    return rows, upto


def among(session: Session, column: ColumnElement[int], ids: list[int]) -> ColumnElement[bool]:
    """``column`` is one of ``ids`` (a page's, a thousand or so): on PostgreSQL ``= ANY``
    of one array parameter (a thousand-value ``IN`` costs more to render, send and plan
    than the page's rows to read)."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, ids, type_=ARRAY(Integer)))
    # SQLite: the ids as one JSON text, read back by json_each (a thousand ``?`` would
    # be rendered and bound for each page).
    values = select(literal_column("value", Integer)).select_from(func.json_each(json.dumps(ids)))
    return column.in_(values.scalar_subquery())


def _any_open_case(session: Session, policy_id: int) -> bool:
    """Whether the policy has an open case (one query, not one per page)."""
    stmt = select(ClaimCaseRow.id).where(
        ClaimCaseRow.policy_id == policy_id, ClaimCaseRow.state == CaseState.OPEN
    )
    return session.scalar(stmt.limit(1)) is not None


def _streamed(dialect: str) -> bool:
    """Whether a policy's pages come from one streamed query (PostgreSQL) rather than
    keyset pages of index look-ups (SQLite), :func:`scan_pages` says why."""
    return dialect == "postgresql"


def policy_pages(
    session: Session,
    policy: Policy,
    policy_id: int,
    paths: Mapping[str, EscalationPath],
    default_tier: str,
    today: date,
    lead_days: tuple[int, ...],
    *,
    after_buyer: int | None = None,
    page_size: int | None = None,
) -> Iterator[ScanPage]:
    """The pages of :func:`scan_policy`, read in ``session`` (see :func:`scan_pages`)."""
    page_size = page_size or PAGE_SIZE
    reader = _PolicyScan(policy, policy_id, paths, default_tier, today, lead_days)
    reader.cases = _any_open_case(session, policy_id)
    if _streamed(session.get_bind().dialect.name):
        yield from reader.stream_pages(session, after_buyer, page_size)
        return
    after = after_buyer
    while True:
        page = reader.read_page(session, after, page_size)
        yield page
        if page.upto is None:
            return
        after = page.upto


def scan_policy(
    session: Session,
    policy: Policy,
    policy_id: int,
    paths: Mapping[str, EscalationPath],
    default_tier: str,
    today: date,
    lead_days: tuple[int, ...],
    *,
    after_buyer: int | None = None,
) -> Iterator[OverdueBuyer]:
    """Every buyer with an open invoice past its due date under ``policy`` on ``today``
    (the business date in the policy's time zone), in buyer order; a buyer whose open
    case has notified the insurer under the clock of that case. ``after_buyer``: only
    the buyers with a greater id (a keyset page). Read in keyset pages of
    :data:`PAGE_SIZE` accounts: memory holds one page, whatever the portfolio."""
    for page in policy_pages(
        session, policy, policy_id, paths, default_tier, today, lead_days, after_buyer=after_buyer
    ):
        yield from page.buyers


def scan_pages(
    ledger: Ledger,
    policies: Mapping[str, Policy],
    paths: Mapping[str, EscalationPath],
    *,
    default_tier: str,
    now: datetime,
    lead_days: tuple[int, ...] = (14, 7, 2),
    page_size: int | None = None,
) -> Iterator[ScanPage]:
    """The overdue buyers of every configured policy known to the ledger, in pages
    (policy key, then buyer id order) of ``page_size`` buyers at most. Every known policy
    has at least one page, and its pages cover every buyer id once (see
    :class:`ScanPage`): a caller can tell the buyers no longer overdue page by page, and
    may write between pages.

    On SQLite each page is a keyset page read in a read-only transaction of its own,
    closed before it is yielded (the next accounts of the policy in buyer order, their
    invoices by index look-ups). On PostgreSQL each policy's pages come from one grouped
    query streamed in a read-only transaction held while the caller works (its writes go
    beside it in other transactions): see :meth:`_PolicyScan.stream_pages`."""
    page_size = page_size or PAGE_SIZE
    with ledger.reading() as session:
        known = list(known_policies(session, policies))
    streamed = _streamed(ledger.engine.dialect.name)
    for policy, policy_id in known:
        reader = _PolicyScan(
            policy, policy_id, paths, default_tier, policy.terms.business_date(now), lead_days
        )
        if streamed:
            with ledger.reading() as session:
                reader.cases = _any_open_case(session, policy_id)
                yield from reader.stream_pages(session, None, page_size)
            continue
        with ledger.reading() as session:
            reader.cases = _any_open_case(session, policy_id)
        after: int | None = None
        while True:
            with ledger.reading() as session:
                page = reader.read_page(session, after, page_size)
            yield page
            if page.upto is None:
                break
            after = page.upto


def scan(
    ledger: Ledger,
    policies: Mapping[str, Policy],
    paths: Mapping[str, EscalationPath],
    *,
    default_tier: str,
    now: datetime,
    lead_days: tuple[int, ...] = (14, 7, 2),
) -> Iterator[OverdueBuyer]:
    """The overdue buyers of every configured policy known to the ledger, streamed from
    :func:`scan_pages` (memory holds one page)."""
    for page in scan_pages(
        ledger, policies, paths, default_tier=default_tier, now=now, lead_days=lead_days
    ):
        yield from page.buyers
