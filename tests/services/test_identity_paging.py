"""``resolve_buyers`` groups a block at a time through TEMP tables: on seeded worlds of
buyers (tests/services/identity_world.py) its outcome in the ledger (merges, the review
queue in order, identifiers, parents, assessments, every id) is exactly the one the
grouping that held every account in memory gave (fixed expectations, written by it)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tci_gateway.adapters.contract import BureauAdapter
from tci_gateway.domain import identity
from tci_gateway.domain.identity import ResolutionConfig
from tci_gateway.ledger.engine import Ledger
from tci_gateway.services.identity import ResolveConfig, resolve_buyers

from .identity_world import NOW, WorldBureau, make_world, outcome, seed_ledger

EXPECTED = Path(__file__).parent / "expected"
CASES = {
    "seed1": (1, ResolutionConfig()),
    "seed2-auto": (2, ResolutionConfig(name_auto_link_score=90.0)),
    "seed3-low": (3, ResolutionConfig(name_review_score=70.0, name_auto_link_score=95.0)),
    "seed4-small-blocks": (4, ResolutionConfig(name_auto_link_score=99.0)),
}
SMALL_BLOCK = 12  # seed4: a name token shared by more than 12 names of a country says nothing


@pytest.mark.parametrize("case", sorted(CASES))
def test_outcome_is_the_one_of_the_grouping_in_memory(
    ledger: Ledger, case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed, rules = CASES[case]
    if "small-blocks" in case:
        monkeypatch.setattr(identity, "MAX_BLOCK", SMALL_BLOCK)
    world = make_world(seed)
    seed_ledger(ledger, world)
    bureau = WorldBureau(world)
    assert isinstance(bureau, BureauAdapter)
    config = ResolveConfig(rules=rules, page_size=37)
    report = resolve_buyers(ledger, bureaus={"worldbureau": bureau}, now=NOW, config=config)
    got = {"report": {k: v for k, v in vars(report).items()}, "ledger": outcome(ledger)}
    got = json.loads(json.dumps(got))
    path = EXPECTED / f"resolve-{case}.json"
    if os.environ.get("TCI_WRITE_EXPECTED"):
        path.write_text(json.dumps(got, ensure_ascii=False, indent=0) + "\n", encoding="utf-8")
    expected = json.loads(path.read_text(encoding="utf-8"))
    assert got["report"] == expected["report"]
    for key in sorted(expected["ledger"], key=lambda k: k == "accounts"):
        assert got["ledger"][key] == expected["ledger"][key], key
    assert report.merged and report.reviews_new  # the world has both
