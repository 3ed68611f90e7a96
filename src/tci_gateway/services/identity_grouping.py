"""Step 2 of ``tci buyers resolve``: the ERP accounts grouped a block at a time.

Every account is written to the TEMP tables of :mod:`tci_gateway.ledger.identity_scratch`
with what is known of it (its buyer's identifiers, what the providers found, the
crosswalks) and its name tokens; the database forms the blocks, and the rules of
:class:`tci_gateway.domain.identity.Grouping` are applied to one block at a time: first
every identifier held by two accounts or more (in the identifiers' order), then every
name block (in the order :func:`tci_gateway.domain.identity.resolve` compares them).
Python holds a page of accounts or one block, the accounts linked so far and the pairs
that contradict, never every account; the review items found go to a TEMP table as
they come. The outcome is exactly the one of :func:`~tci_gateway.domain.identity.resolve`
over every account at once (tests/services/test_identity_paging.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import groupby
from operator import itemgetter

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from tci_gateway.domain import identity as rules
from tci_gateway.domain.identifiers import Identifier, Scheme
from tci_gateway.domain.identity import Grouping, Holder, Member, ResolutionConfig, expand
from tci_gateway.ledger.identity_scratch import Scratch, decode, encode
from tci_gateway.ledger.tables import BuyerIdentifierRow, BuyerRow, ErpAccountRow

PAGE = 2000
"""Accounts read (and written to the TEMP tables) at a time."""
SHARED_PAGE = 500
"""Shared identifiers read at a time."""
BLOCK_PAGE = 50
"""Name blocks read at a time (each has at most ``MAX_BLOCK`` accounts)."""

_NONE: frozenset[Identifier] = frozenset()
_SCHEMES = {s.value: s for s in Scheme}


def identifiers_of(
    connection: Connection | Session, buyer_ids: list[int]
) -> dict[int, frozenset[Identifier]]:
    """Each of ``buyer_ids``' identifiers (buyers without any are absent)."""
    rows = connection.execute(
        select(
            BuyerIdentifierRow.buyer_id,
            BuyerIdentifierRow.scheme,
            BuyerIdentifierRow.issuer,
            BuyerIdentifierRow.value,
        )
        .where(BuyerIdentifierRow.buyer_id.in_(buyer_ids))
        .order_by(BuyerIdentifierRow.buyer_id)
    )
    return {
        buyer_id: frozenset(Identifier(_SCHEMES[s], v, i) for _, s, i, v in group)
        for buyer_id, group in groupby(rows, key=itemgetter(0))
    }


def write_accounts(scratch: Scratch) -> int:
    """Every ERP account, in the ledger's order (``ORDER BY account``), into the TEMP
    tables with its identifiers, its identifier keys and its name tokens, a page at a
    time; returns how many."""
    connection = scratch.connection
    last: str | None = None
    pos = 0
    while True:
        stmt = (
            select(
                ErpAccountRow.account, ErpAccountRow.name, BuyerRow.country, ErpAccountRow.buyer_id
            )
            .join(BuyerRow, BuyerRow.id == ErpAccountRow.buyer_id)
            .order_by(ErpAccountRow.account)
            .limit(PAGE)
        )
        if last is not None:
            stmt = stmt.where(ErpAccountRow.account > last)
        page = connection.execute(stmt).all()
        if not page:
            return pos
        buyers = sorted({row[3] for row in page})
        idents = identifiers_of(connection, buyers)
        found = scratch.found(buyers)
        accounts: list[tuple[int, str, str, str, int, str, str]] = []
        keys: list[tuple[str, int]] = []
        tokens: list[tuple[int, str, str]] = []
        for account, name, country, buyer_id in page:
            pos += 1
            own = idents.get(buyer_id, _NONE)
            extra = found.get(buyer_id)
            expanded = expand(own | set(extra)) if extra else expand(own)
            accounts.append((pos, account, name, country, buyer_id, encode(own), encode(expanded)))
            keys.extend((str(ident), pos) for ident in expanded)
            tokens.extend((pos, country, token) for token in sorted(rules.name_tokens(name)))
        scratch.add("tci_rs_accounts", accounts)
        scratch.add("tci_rs_keys", keys)
        scratch.add("tci_rs_tokens", tokens)
        last = page[-1][0]


def _drain(grouping: Grouping, scratch: Scratch, written: int) -> int:
    rows = [
        (written + n, item.accounts[0], item.accounts[1], item.score, item.reason)
        for n, item in enumerate(grouping.reviews, start=1)
    ]
    scratch.add("tci_rs_reviews", rows)
    grouping.reviews.clear()
    grouping.links.clear()
    return written + len(rows)


def group(scratch: Scratch, config: ResolutionConfig) -> Grouping:
    """The rules applied to every shared identifier, then every name block, a page at a
    time; the review items are written to the scratch as they come. Returns the grouping
    (the accounts linked)."""
    scratch.prepare(max_block=rules.MAX_BLOCK, keys=rules.BLOCK_KEYS)
    grouping = Grouping(config)
    written = 0
    after = ""
    while idents := scratch.shared(after, SHARED_PAGE):
        holders: dict[str, list[Holder]] = {ident: [] for ident in idents}
        for ident, account, expanded in scratch.holders(idents):
            holders[ident].append(Holder(account, decode(expanded)))
        for ident in idents:  # in the identifiers' order, holders in account order
            grouping.shared(ident, sorted(holders[ident], key=lambda h: h.account))
        written = _drain(grouping, scratch, written)
        after = idents[-1]
    count = scratch.blocks()
    for low in range(0, count, BLOCK_PAGE):
        rows = scratch.block_members(low, low + BLOCK_PAGE)
        for ordinal, members in groupby(rows, key=itemgetter(0)):
            grouping.names(
                ordinal,
                [
                    Member(account, name, decode(ex), other)
                    for _, account, name, ex, other in members
                ],
            )
        written = _drain(grouping, scratch, written)
    return grouping


def sources_of(scratch: Scratch, owners: list[int]) -> Mapping[Identifier, str]:
    """Where the identifiers found for ``owners`` came from (a later owner's word wins)."""
    found = scratch.found(owners)
    return {ident: origin for owner in owners for ident, origin in found.get(owner, {}).items()}
