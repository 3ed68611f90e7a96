"""Buyer identity: which ERP accounts are one legal entity (docs/domain.md, section 2).

Pure rules, no I/O:

* **exact identifiers link**: accounts sharing a validated identifier are one entity;
* **crosswalks extend them**: a French VAT number embeds the SIREN; bureaus add more
  (GLEIF registry numbers, D&B registration numbers) as identifiers given to
  :func:`resolve`;
* **identifiers that contradict block a link**: an entity has one LEI, one SIREN, one
  USCC, one id per insurer; a link that would give it two goes to review instead;
* **names only propose**: a name match (NFKC, case folding, legal forms stripped,
  rapidfuzz) becomes a review item, never a link on its own, unless the configuration
  explicitly sets an automatic threshold. Names in Chinese script are compared as
  written, never through a romanisation; a Chinese name and a Latin one are not compared.

The rules are applied a block at a time (:class:`Grouping`): the accounts sharing one
identifier, then the accounts of one name block. :func:`resolve` forms the blocks from a
list in memory; ``tci buyers resolve`` has the database form them (TEMP tables,
:mod:`tci_gateway.ledger.identity_scratch`) and feeds them in the same order, so only a
block and the accounts already linked are held, however many accounts there are.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from stdnum.fr import tva

from tci_gateway.domain.company_names import has_cjk as has_cjk
from tci_gateway.domain.company_names import name_score as name_score
from tci_gateway.domain.company_names import name_tokens as name_tokens
from tci_gateway.domain.company_names import normalise_name as normalise_name
from tci_gateway.domain.identifiers import Identifier, Scheme


class ReviewState(StrEnum):
    """A proposed link between two ERP accounts: ``PENDING`` until a person
    ``ACCEPTED`` or ``REJECTED`` it."""

    PENDING = "PENDING"
    ACCEPTED = "ACCEPTED"
    REJECTED = "REJECTED"


class ParentRelation(StrEnum):
    """A buyer's parent as a bureau reports it: its ``DIRECT`` or ``ULTIMATE`` parent."""

    DIRECT = "DIRECT"
    ULTIMATE = "ULTIMATE"


# Schemes under which one legal entity has exactly one value (per issuer / country).
_UNIQUE_SCHEMES = frozenset(
    {Scheme.LEI, Scheme.FR_SIREN, Scheme.GB_CRN, Scheme.CN_USCC, Scheme.DUNS, Scheme.INSURER}
)


def crosswalk(identifier: Identifier) -> set[Identifier]:
    """Identifiers implied by one identifier without asking anyone (FR VAT -> SIREN)."""
    if identifier.scheme is Scheme.VAT and identifier.value.startswith("FR"):
        siren = tva.to_siren(identifier.value)
        if siren.isdigit() and len(siren) == 9:
            return {Identifier(Scheme.FR_SIREN, siren)}
    return set()


def _unique_key(ident: Identifier) -> tuple[str, str] | None:
    """The slot an identifier occupies on an entity, when the entity has only one."""
    if ident.scheme in _UNIQUE_SCHEMES:
        return (ident.scheme.value, ident.issuer)
    if ident.scheme is Scheme.VAT:
        return ("VAT", ident.value[:2])  # one VAT number per country
    return None


def contradictions(
    a: Iterable[Identifier], b: Iterable[Identifier]
) -> list[tuple[Identifier, Identifier]]:
    """Pairs of identifiers that cannot both belong to one legal entity."""
    slots: dict[tuple[str, str], Identifier] = {}
    for ident in a:
        key = _unique_key(ident)
        if key is not None:
            slots[key] = ident
    found = []
    for ident in b:
        key = _unique_key(ident)
        if key is not None and key in slots and slots[key] != ident:
            found.append((slots[key], ident))
    return found


@dataclass(frozen=True)
class AccountRecord:
    account: str
    name: str
    country: str
    identifiers: frozenset[Identifier] = frozenset()


@dataclass(frozen=True)
class ResolutionConfig:
    """Thresholds. ``name_review_score``: a name pair at or above it is proposed for
    review. ``name_auto_link_score``: ``None`` (the default) means a name never links on
    its own; a number enables automatic links at or above it when no identifier
    contradicts."""

    name_review_score: float = 85.0
    name_auto_link_score: float | None = None


@dataclass(frozen=True)
class Link:
    accounts: tuple[str, str]
    reason: str


@dataclass(frozen=True)
class ReviewItem:
    accounts: tuple[str, str]
    score: float
    reason: str


@dataclass
class Resolution:
    entities: list[frozenset[str]] = field(default_factory=list)
    identifiers: dict[frozenset[str], frozenset[Identifier]] = field(default_factory=dict)
    links: list[Link] = field(default_factory=list)
    reviews: list[ReviewItem] = field(default_factory=list)

    def entity_of(self, account: str) -> frozenset[str]:
        for entity in self.entities:
            if account in entity:
                return entity
        raise KeyError(account)


def expand(identifiers: Iterable[Identifier]) -> frozenset[Identifier]:
    """An account's identifiers with their crosswalks (:func:`crosswalk`)."""
    expanded = set(identifiers)
    for ident in list(expanded):
        expanded |= crosswalk(ident)
    return frozenset(expanded)


@dataclass(frozen=True, slots=True)
class Holder:
    """An account holding a shared identifier, with all its (expanded) identifiers."""

    account: str
    identifiers: frozenset[Identifier]


@dataclass(frozen=True, slots=True)
class Member:
    """An account of a name block: ``other_block`` is the ordinal of the other block it
    is in, if any (an account is in at most ``BLOCK_KEYS`` blocks)."""

    account: str
    name: str
    identifiers: frozenset[Identifier]
    other_block: int | None = None


class Grouping:
    """The rules applied a block at a time, holding only the accounts linked or met in
    a shared identifier (a union-find) and the pairs that contradict.

    Feed :meth:`shared` every identifier held by two accounts or more, in the order of
    ``str(identifier)``, with its holders in account order; then :meth:`names` every name
    block in its ordinal order (:func:`block_order`), its members in record order.
    ``links`` and ``reviews`` grow as they are found (a caller may empty them as it goes).
    """

    def __init__(self, config: ResolutionConfig | None = None) -> None:
        self.config = config or ResolutionConfig()
        self.parent: dict[str, str] = {}
        self.idents: dict[str, set[Identifier]] = {}
        self.links: list[Link] = []
        self.reviews: list[ReviewItem] = []
        self._contradicted: set[tuple[str, str]] = set()

    def _enter(self, account: str, identifiers: frozenset[Identifier]) -> None:
        if account not in self.parent:
            self.parent[account] = account
            self.idents[account] = set(identifiers)

    def find(self, a: str) -> str:
        """The account that stands for ``a``'s group (``a`` itself when unlinked)."""
        if a not in self.parent:
            return a
        while self.parent[a] != a:
            self.parent[a] = self.parent[self.parent[a]]
            a = self.parent[a]
        return a

    def _union(self, a: str, b: str) -> list[tuple[Identifier, Identifier]]:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return []
        clash = contradictions(sorted(self.idents[ra]), sorted(self.idents[rb]))
        if clash:
            return clash
        self.parent[rb] = ra
        self.idents[ra] |= self.idents.pop(rb)
        return []

    def shared(self, ident: str, holders: Sequence[Holder]) -> None:
        """The accounts holding identifier ``ident`` (its text), in account order: each
        is linked to the first, or reviewed when their identifiers contradict."""
        first = holders[0]
        self._enter(first.account, first.identifiers)
        for other in holders[1:]:
            self._enter(other.account, other.identifiers)
            clash = self._union(first.account, other.account)
            pair = (first.account, other.account)
            if clash:
                detail = "; ".join(f"{x} vs {y}" for x, y in clash)
                self.reviews.append(
                    ReviewItem(pair, 100.0, f"share {ident} but contradict: {detail}")
                )
                self._contradicted.add((min(pair), max(pair)))
            elif self.find(first.account) == self.find(other.account):
                self.links.append(Link(pair, f"same {ident}"))

    def _identifiers(self, root: str, member: Member) -> Iterable[Identifier]:
        return sorted(self.idents.get(root, member.identifiers))

    def names(self, ordinal: int, members: Sequence[Member]) -> None:
        """One name block: each pair not yet linked and not met in an earlier block is
        scored; a close pair is reviewed (or linked, at the automatic threshold, when no
        identifier contradicts)."""
        config = self.config
        for i, a in enumerate(members):
            for b in members[i + 1 :]:
                ra, rb = self.find(a.account), self.find(b.account)
                if ra == rb:
                    continue
                if (
                    a.other_block is not None
                    and a.other_block == b.other_block
                    and a.other_block < ordinal
                ):
                    continue  # met in that earlier block
                if (min(a.account, b.account), max(a.account, b.account)) in self._contradicted:
                    continue
                score = name_score(a.name, b.name)
                if score < config.name_review_score:
                    continue
                clash = contradictions(self._identifiers(ra, a), self._identifiers(rb, b))
                auto = config.name_auto_link_score
                if not clash and auto is not None and score >= auto:
                    self._enter(a.account, a.identifiers)
                    self._enter(b.account, b.identifiers)
                    self._union(a.account, b.account)
                    self.links.append(Link((a.account, b.account), f"names match ({score:.0f})"))
                    continue
                why = (
                    f"similar names ({score:.0f}) but identifiers contradict: "
                    + "; ".join(f"{x} vs {y}" for x, y in clash)
                    if clash
                    else f"similar names ({score:.0f}), no shared identifier"
                )
                self.reviews.append(ReviewItem((a.account, b.account), score, why))

    def groups(self) -> dict[str, list[str]]:
        """Each group of linked accounts (two or more) by the account that stands for
        it; an account absent from every group is an entity of its own."""
        members: dict[str, list[str]] = defaultdict(list)
        for account in self.parent:
            members[self.find(account)].append(account)
        return {root: sorted(m) for root, m in members.items() if len(m) > 1}

    def identifiers_of(self, root: str) -> frozenset[Identifier]:
        """The identifiers of the group ``root`` stands for."""
        return frozenset(self.idents[root])


MAX_BLOCK = 200
"""A name token shared by more names than this in a country says nothing: no block."""
BLOCK_KEYS = 2
"""The rarest tokens of a name it is blocked on."""


def block_keys(
    tokens: Iterable[str], frequency: Mapping[str, int], max_block: int | None = None
) -> list[str]:
    """The tokens a name is blocked on: the ``BLOCK_KEYS`` rarest (by frequency in its
    country, then text) of those shared by at most ``MAX_BLOCK`` names."""
    limit = MAX_BLOCK if max_block is None else max_block
    usable = sorted((frequency[t], t) for t in tokens if frequency[t] <= limit)
    return [t for _, t in usable[:BLOCK_KEYS]]


def resolve(
    records: Iterable[AccountRecord],
    config: ResolutionConfig | None = None,
    extra_identifiers: Mapping[str, Iterable[Identifier]] | None = None,
) -> Resolution:
    """Group accounts into legal entities; see the module docstring for the rules.
    ``extra_identifiers`` are identifiers a bureau confirmed for an account."""
    records = list(records)
    extra = extra_identifiers or {}
    expanded = {r.account: expand({*r.identifiers, *extra.get(r.account, ())}) for r in records}
    grouping = Grouping(config)
    holders: dict[Identifier, list[str]] = defaultdict(list)
    for account in sorted(expanded):
        for ident in expanded[account]:
            holders[ident].append(account)
    for ident, accounts in sorted(holders.items(), key=lambda item: str(item[0])):
        if len(accounts) > 1:
            grouping.shared(str(ident), [Holder(a, expanded[a]) for a in accounts])
    blocks = _blocks(records)
    ordinal = {key: n for n, key in enumerate(blocks) if len(blocks[key]) > 1}
    keys_of: dict[str, list[int]] = defaultdict(list)
    for key, block in blocks.items():
        for rec in block:
            if key in ordinal:
                keys_of[rec.account].append(ordinal[key])
    for key, block in blocks.items():
        if key not in ordinal:
            continue
        n = ordinal[key]
        grouping.names(
            n,
            [
                Member(
                    r.account,
                    r.name,
                    expanded[r.account],
                    next((o for o in keys_of[r.account] if o != n), None),
                )
                for r in block
            ],
        )
    result = Resolution(links=grouping.links, reviews=grouping.reviews)
    members: dict[str, set[str]] = defaultdict(set)
    for account in expanded:
        members[grouping.find(account)].add(account)
    for root, member_set in sorted(members.items()):
        entity = frozenset(member_set)
        result.entities.append(entity)
        result.identifiers[entity] = (
            grouping.identifiers_of(root) if root in grouping.idents else expanded[root]
        )
    return result


def _blocks(records: list[AccountRecord]) -> dict[tuple[str, str], list[AccountRecord]]:
    """Candidate blocks in the order names are compared, so names are not compared all
    against all: same country and one of the name's :func:`block_keys` (the first two
    characters of a Chinese name)."""
    keyed: list[tuple[AccountRecord, set[str]]] = []
    frequency: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for rec in records:
        tokens = name_tokens(rec.name)
        keyed.append((rec, tokens))
        for token in tokens:
            frequency[rec.country][token] += 1
    blocks: dict[tuple[str, str], list[AccountRecord]] = defaultdict(list)
    for rec, tokens in keyed:
        for token in block_keys(tokens, frequency[rec.country]):
            blocks[(rec.country, token)].append(rec)
    return blocks
