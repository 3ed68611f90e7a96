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
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from rapidfuzz import fuzz
from stdnum.fr import tva

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


# Legal-form words stripped before names are compared (after NFKC and case folding,
# punctuation removed). Kept short on purpose: words that are also real name parts
# ("group", "holding", "international") stay.
_LEGAL_FORMS = frozenset(
    {
        "ab",
        "ag",
        "aps",
        "as",
        "asa",
        "bv",
        "bvba",
        "cv",
        "co",
        "company",
        "corp",
        "corporation",
        "cvba",
        "doo",
        "ehf",
        "eirl",
        "eood",
        "eurl",
        "gmbh",
        "gie",
        "inc",
        "incorporated",
        "kft",
        "kg",
        "kgaa",
        "kk",
        "lda",
        "limited",
        "llc",
        "llp",
        "lp",
        "ltd",
        "ltda",
        "nv",
        "oao",
        "ohg",
        "ooo",
        "oy",
        "oyj",
        "pjsc",
        "plc",
        "pte",
        "pty",
        "sa",
        "saa",
        "sab",
        "sae",
        "sarl",
        "sas",
        "sasu",
        "sca",
        "scs",
        "se",
        "sl",
        "sll",
        "slne",
        "slu",
        "snc",
        "spa",
        "sprl",
        "srl",
        "sro",
        "sp",
        "zoo",
        "ug",
        "vof",
        "zao",
        "mbh",
    }
)
_CJK_LEGAL_SUFFIXES = ("股份有限公司", "有限责任公司", "有限公司", "集团公司", "公司")
_DOTTED = re.compile(r"\b(?:[a-z]\.){2,}")  # "b.v." -> "bv", "s.a.r.l." -> "sarl"
_NON_WORD = re.compile(r"[^\w]+", re.UNICODE)

# Schemes under which one legal entity has exactly one value (per issuer / country).
_UNIQUE_SCHEMES = frozenset(
    {Scheme.LEI, Scheme.FR_SIREN, Scheme.GB_CRN, Scheme.CN_USCC, Scheme.DUNS, Scheme.INSURER}
)


def has_cjk(text: str) -> bool:
    return any(
        "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf" or "\uf900" <= ch <= "\ufaff"
        for ch in text
    )


def normalise_name(name: str) -> str:
    """A name reduced for comparison: NFKC, case folded, punctuation and legal forms
    removed. Chinese script is kept as written (legal-form suffixes such as 有限公司
    removed)."""
    text = unicodedata.normalize("NFKC", name).casefold().strip()
    if has_cjk(text):
        text = re.sub("[\\s()\uff08\uff09\u00b7.,\uff0c]+", "", text)
        for suffix in _CJK_LEGAL_SUFFIXES:
            if text.endswith(suffix) and len(text) > len(suffix):
                text = text[: -len(suffix)]
                break
        return text
    text = _DOTTED.sub(lambda m: m.group(0).replace(".", ""), text)
    words = [w for w in _NON_WORD.sub(" ", text).split() if w and w not in _LEGAL_FORMS]
    return " ".join(words)


def name_score(a: str, b: str) -> float:
    """Similarity 0-100 of two company names (see :func:`normalise_name`)."""
    na, nb = normalise_name(a), normalise_name(b)
    if not na or not nb:
        return 0.0
    cjk_a, cjk_b = has_cjk(na), has_cjk(nb)
    if cjk_a != cjk_b:
        return 0.0  # never through a romanisation
    if cjk_a:
        return float(fuzz.ratio(na, nb))
    if _numbers(na) != _numbers(nb):
        return 0.0  # "Holding 1" and "Holding 2" are two companies, however alike
    return float(fuzz.token_sort_ratio(na, nb))


def _numbers(name: str) -> set[str]:
    return {w for w in name.split() if any(ch.isdigit() for ch in w)}


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
