"""Identity resolution on a fixture of 248 accounts with known right answers
(fixtures/identity/): precision 1.0 on automatic links, every trap in review."""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from pathlib import Path

import pytest

from tci_gateway.domain.identifiers import (
    REGISTRATION_SCHEME_BY_COUNTRY,
    Identifier,
    Scheme,
    parse_identifier,
)
from tci_gateway.domain.identity import (
    AccountRecord,
    ResolutionConfig,
    contradictions,
    crosswalk,
    name_score,
    normalise_name,
    resolve,
)

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "identity"


def load() -> tuple[
    list[AccountRecord], dict[str, str], dict[str, str], dict[str, list[Identifier]]
]:
    records, truth, case = [], {}, {}
    with (FIXTURE / "accounts.csv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            ids = set()
            for column, scheme in (("lei", Scheme.LEI), ("duns", Scheme.DUNS), ("vat", Scheme.VAT)):
                if row[column]:
                    ids.add(parse_identifier(scheme, row[column]))
            if row["registration_number"]:
                scheme = REGISTRATION_SCHEME_BY_COUNTRY[row["country"]]
                ids.add(parse_identifier(scheme, row["registration_number"]))
            records.append(
                AccountRecord(row["erp_account"], row["name"], row["country"], frozenset(ids))
            )
            truth[row["erp_account"]] = row["truth"]
            case[row["erp_account"]] = row["case"]
    raw = json.loads((FIXTURE / "bureau_identifiers.json").read_text(encoding="utf-8"))
    extra = {
        acc: [parse_identifier(*v.split(":", 1)) for v in values] for acc, values in raw.items()
    }
    return records, truth, case, extra


def test_fixture_is_large_enough_and_covers_every_case() -> None:
    records, _truth, case, _ = load()
    assert len(records) >= 200
    assert set(case.values()) >= {
        "duplicate",
        "crosswalk",
        "site",
        "branch-duns",
        "group",
        "chinese",
        "chinese-different",
        "contradiction",
        "name-only",
        "near-names",
    }


def test_automatic_links_have_precision_one_and_find_every_identifier_duplicate() -> None:
    records, truth, case, extra = load()
    result = resolve(records, ResolutionConfig(), extra)
    linked_pairs = wrong = 0
    for entity in result.entities:
        members = sorted(entity)
        truths = {truth[a] for a in members}
        linked_pairs += len(members) * (len(members) - 1) // 2
        wrong += len(truths) > 1
    assert wrong == 0  # precision 1.0
    by_truth: dict[str, set[str]] = defaultdict(set)
    for account, t in truth.items():
        by_truth[t].add(account)
    for t, accounts in by_truth.items():
        kinds = {case[a] for a in accounts}
        if kinds & {"duplicate", "crosswalk", "site", "branch-duns", "chinese"}:
            assert result.entity_of(next(iter(accounts))) == frozenset(accounts), t
    assert linked_pairs >= 60


def test_traps_go_to_review_not_to_links() -> None:
    records, truth, case, extra = load()
    result = resolve(records, ResolutionConfig(), extra)
    reviewed = {frozenset(item.accounts) for item in result.reviews}
    for kind in ("contradiction", "name-only"):
        accounts = sorted(a for a, c in case.items() if c == kind)
        for a in accounts:
            assert len(result.entity_of(a)) == 1, (kind, a)
        pairs = defaultdict(list)
        for a in accounts:
            pairs[truth[a].rstrip("ab")].append(a)
        for members in pairs.values():
            assert frozenset(members) in reviewed, (kind, members)
    contradicted = [r for r in result.reviews if r.reason.startswith("share ")]
    assert len(contradicted) == 8


def test_names_can_be_allowed_to_link_but_never_across_contradictions() -> None:
    records, truth, case, extra = load()
    result = resolve(records, ResolutionConfig(name_auto_link_score=99.0), extra)
    for entity in result.entities:
        assert len({truth[a] for a in entity}) == 1
    for a, kind in case.items():
        if kind == "contradiction":
            assert len(result.entity_of(a)) == 1


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Bouwbedrijf Van Dijk B.V.", "bouwbedrijf van dijk"),
        ("MÜLLER MASCHINENBAU G.m.b.H.", "müller maschinenbau"),
        ("Ｓｏｃｉéｔé  Générale, SAS", "société générale"),
        ("深圳华强电子有限公司", "深圳华强电子"),
        ("深圳华强电子股份有限公司", "深圳华强电子"),
    ],
)
def test_normalise_name(raw: str, expected: str) -> None:
    assert normalise_name(raw) == expected


def test_chinese_names_are_never_compared_through_romanisation() -> None:
    assert name_score("深圳华强电子有限公司", "Shenzhen Huaqiang Electronics Co., Ltd.") == 0.0
    assert name_score("深圳华强电子有限公司", "深圳华强电子股份有限公司") == 100.0
    assert name_score("Alpha Logistics GmbH", "ALPHA LOGISTICS LIMITED") == 100.0


def test_crosswalk_and_contradictions() -> None:
    vat = parse_identifier(Scheme.VAT, "FR40303265045")
    assert crosswalk(vat) == {Identifier(Scheme.FR_SIREN, "303265045")}
    assert crosswalk(parse_identifier(Scheme.VAT, "DE136695976")) == set()
    a = {parse_identifier(Scheme.LEI, "529900T8BM49AURSDO55"), vat}
    b = {parse_identifier(Scheme.LEI, "5493001KJTIIGC8Y1R12"), vat}
    assert len(contradictions(a, b)) == 1
    assert contradictions(a, {vat}) == []
    de = parse_identifier(Scheme.VAT, "DE136695976")
    assert contradictions({vat}, {de}) == []  # one VAT number per country
