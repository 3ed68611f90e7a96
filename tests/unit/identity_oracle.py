"""The grouping as it was before it went a block at a time (it held every account):
kept here only as the oracle the block-at-a-time grouping is compared with
(tests/unit/test_identity_blocks.py). Identical to the old code but for the order of
the contradictions listed in a reason, which followed the hash seed."""

# ruff: noqa
# mypy: ignore-errors
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping

from tci_gateway.domain.identifiers import Identifier
from tci_gateway.domain.identity import (
    AccountRecord,
    Link,
    Resolution,
    ResolutionConfig,
    ReviewItem,
    contradictions,
    crosswalk,
    has_cjk,
    name_score,
    normalise_name,
)


class _Groups:
    def __init__(self, records: Iterable[AccountRecord], extra: Mapping[str, Iterable[Identifier]]):
        self.parent: dict[str, str] = {}
        self.idents: dict[str, set[Identifier]] = {}
        for rec in records:
            expanded = set(rec.identifiers) | set(extra.get(rec.account, ()))
            for ident in list(expanded):
                expanded |= crosswalk(ident)
            self.parent[rec.account] = rec.account
            self.idents[rec.account] = expanded

    def find(self, a: str) -> str:
        while self.parent[a] != a:
            self.parent[a] = self.parent[self.parent[a]]
            a = self.parent[a]
        return a

    def union(self, a: str, b: str) -> list[tuple[Identifier, Identifier]]:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return []
        clash = contradictions(sorted(self.idents[ra]), sorted(self.idents[rb]))
        if clash:
            return clash
        self.parent[rb] = ra
        self.idents[ra] |= self.idents.pop(rb)
        return []


def resolve(
    records: Iterable[AccountRecord],
    config: ResolutionConfig | None = None,
    extra_identifiers: Mapping[str, Iterable[Identifier]] | None = None,
) -> Resolution:
    """Group accounts into legal entities; see the module docstring for the rules.
    ``extra_identifiers`` are identifiers a bureau confirmed for an account."""
    config = config or ResolutionConfig()
    records = list(records)
    groups = _Groups(records, extra_identifiers or {})
    result = Resolution()
    holders: dict[Identifier, list[str]] = defaultdict(list)
    for account in sorted(groups.idents):
        for ident in groups.idents[account]:
            holders[ident].append(account)
    for ident, accounts in sorted(holders.items(), key=lambda item: str(item[0])):
        for other in accounts[1:]:
            clash = groups.union(accounts[0], other)
            pair = (accounts[0], other)
            if clash:
                detail = "; ".join(f"{x} vs {y}" for x, y in clash)
                result.reviews.append(
                    ReviewItem(pair, 100.0, f"share {ident} but contradict: {detail}")
                )
            elif groups.find(accounts[0]) == groups.find(other):
                result.links.append(Link(pair, f"same {ident}"))
    _name_candidates(records, groups, config, result)
    members: dict[str, set[str]] = defaultdict(set)
    for account in groups.parent:
        members[groups.find(account)].add(account)
    for root, member_set in sorted(members.items()):
        entity = frozenset(member_set)
        result.entities.append(entity)
        result.identifiers[entity] = frozenset(groups.idents[root])
    return result


MAX_BLOCK = 200


def _blocks(records: list[AccountRecord]) -> dict[tuple[str, str], list[AccountRecord]]:
    """Candidate blocks, so names are not compared all against all: same country and a
    shared rare name token (the two rarest of each name; a token shared by more than
    ``MAX_BLOCK`` names in a country says nothing), or the first two characters of a
    Chinese name."""
    keyed: list[tuple[AccountRecord, set[str]]] = []
    frequency: dict[tuple[str, str], int] = defaultdict(int)
    for rec in records:
        name = normalise_name(rec.name)
        if not name:
            continue
        tokens = {name[:2]} if has_cjk(name) else {w for w in name.split() if len(w) > 2}
        keyed.append((rec, tokens))
        for token in tokens:
            frequency[(rec.country, token)] += 1
    blocks: dict[tuple[str, str], list[AccountRecord]] = defaultdict(list)
    for rec, tokens in keyed:
        usable = sorted(
            (frequency[(rec.country, t)], t)
            for t in tokens
            if frequency[(rec.country, t)] <= MAX_BLOCK
        )
        for _, token in usable[:2]:
            blocks[(rec.country, token)].append(rec)
    return blocks


def _name_candidates(
    records: list[AccountRecord],
    groups: _Groups,
    config: ResolutionConfig,
    result: Resolution,
) -> None:
    seen: set[tuple[str, str]] = {tuple(sorted(r.accounts)) for r in result.reviews}  # type: ignore[misc]
    for block in _blocks(records).values():
        for i, a in enumerate(block):
            for b in block[i + 1 :]:
                ra, rb = groups.find(a.account), groups.find(b.account)
                pair = tuple(sorted((a.account, b.account)))
                if ra == rb or pair in seen:
                    continue
                seen.add(pair)  # type: ignore[arg-type]
                score = name_score(a.name, b.name)
                if score < config.name_review_score:
                    continue
                clash = contradictions(sorted(groups.idents[ra]), sorted(groups.idents[rb]))
                auto = config.name_auto_link_score
                if not clash and auto is not None and score >= auto:
                    groups.union(a.account, b.account)
                    result.links.append(Link((a.account, b.account), f"names match ({score:.0f})"))
                    continue
                why = (
                    f"similar names ({score:.0f}) but identifiers contradict: "
                    + "; ".join(f"{x} vs {y}" for x, y in clash)
                    if clash
                    else f"similar names ({score:.0f}), no shared identifier"
                )
                result.reviews.append(ReviewItem((a.account, b.account), score, why))
