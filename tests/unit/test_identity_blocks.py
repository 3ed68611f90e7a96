"""The grouping a block at a time (:class:`~tci_gateway.domain.identity.Grouping`, fed by
:func:`~tci_gateway.domain.identity.resolve`) gives exactly what the grouping that held
every account gave (tests/unit/identity_oracle.py): the same entities with the same
identifiers, the same links and reviews in the same order, on seeded sets of accounts
with duplicates, shared and crosswalked identifiers, contradictions, similar names and
Chinese names, and on the 248-account fixture."""

from __future__ import annotations

import random

import pytest

from tci_gateway.domain import identity
from tci_gateway.domain.identifiers import Identifier, Scheme
from tci_gateway.domain.identity import AccountRecord, Resolution, ResolutionConfig, resolve

from . import identity_oracle
from .test_identity import load

_STEMS = [
    "Alpha Logistics",
    "Alpha Logistik",
    "Beta Foods",
    "Gamma Steel 2",
    "Gamma Steel 3",
    "Delta Textiles",
    "Nordic Timber",
    "Nordisk Timber",
    "Orion Paper Mills",
    "Holding 1",
]
_CJK = ["深圳华强电子", "深圳华强电器", "上海明远贸易", "上海明远商贸"]
_FORMS = ["Ltd", "GmbH", "SAS", "S.A.R.L.", "B.V.", "Limited", "", "Inc", "有限公司"]


def _ident(rng: random.Random, pool: int) -> Identifier:
    n = rng.randrange(pool)
    kind = rng.randrange(6)
    if kind == 0:
        return Identifier(Scheme.LEI, f"LEI{n:05d}")
    if kind == 1:
        siren = f"{300000000 + n:09d}"
        return Identifier(Scheme.VAT, f"FR{(12 + 3 * (int(siren) % 97)) % 97:02d}{siren}")
    if kind == 2:
        return Identifier(Scheme.FR_SIREN, f"{300000000 + n:09d}")
    if kind == 3:
        return Identifier(Scheme.DUNS, f"{150000000 + n:09d}")
    if kind == 4:
        return Identifier(Scheme.VAT, f"DE{100000000 + n:09d}")
    return Identifier(Scheme.INSURER, f"{n}", rng.choice(["atradius", "allianz"]))


def make_records(seed: int, n: int = 160) -> tuple[list[AccountRecord], dict[str, set[Identifier]]]:
    rng = random.Random(seed)
    pool = max(4, n // 3)
    records, extra = [], {}
    for i in range(n):
        country = rng.choice(["FR", "DE", "CN", "GB"])
        stem = rng.choice(_CJK if country == "CN" and rng.random() < 0.7 else _STEMS)
        name = f"{stem} {rng.choice(_FORMS)}" if rng.random() < 0.95 else rng.choice(["", "Ltd"])
        ids = frozenset(_ident(rng, pool) for _ in range(rng.choice([0, 1, 1, 2, 3])))
        account = rng.choice([f"A{i:04d}", f"b{i:03d}", f"Z{i}é"])
        records.append(AccountRecord(account, name, country, ids))
        if rng.random() < 0.2:
            extra[account] = {_ident(rng, pool)}
    rng.shuffle(records)
    return records, extra


def assert_same(got: Resolution, expected: Resolution) -> None:
    assert got.links == expected.links
    assert got.reviews == expected.reviews
    assert got.entities == expected.entities
    assert got.identifiers == expected.identifiers


CONFIGS = [
    ResolutionConfig(),
    ResolutionConfig(name_auto_link_score=90.0),
    ResolutionConfig(name_review_score=60.0, name_auto_link_score=97.0),
]


@pytest.mark.parametrize("seed", range(40))
def test_block_at_a_time_is_the_grouping_in_memory(seed: int) -> None:
    records, extra = make_records(seed)
    config = CONFIGS[seed % len(CONFIGS)]
    expected = identity_oracle.resolve(records, config, extra)
    assert_same(resolve(records, config, extra), expected)
    assert expected.reviews and any(len(e) > 1 for e in expected.entities)


@pytest.mark.parametrize("seed", range(6))
def test_small_blocks_too(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(identity, "MAX_BLOCK", 5)
    monkeypatch.setattr(identity_oracle, "MAX_BLOCK", 5)
    records, extra = make_records(100 + seed, n=120)
    config = CONFIGS[seed % len(CONFIGS)]
    assert_same(resolve(records, config, extra), identity_oracle.resolve(records, config, extra))


@pytest.mark.parametrize("config", CONFIGS)
def test_the_fixture_too(config: ResolutionConfig) -> None:
    records, _truth, _case, extra = load()
    assert_same(resolve(records, config, extra), identity_oracle.resolve(records, config, extra))
