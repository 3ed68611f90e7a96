"""The companies a portfolio read has listed, held on disk (tci_adapters.allianz.seen)."""

from __future__ import annotations

import pytest

from tci_adapters.allianz import seen as seen_module
from tci_adapters.allianz.seen import SeenCompanies


def test_seen_companies_answer_as_a_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(seen_module, "BATCH", 3)  # some ids written, the last ones not yet
    monkeypatch.setattr(seen_module, "CACHE_BYTES", 1)  # SQLite's smallest cache
    seen = SeenCompanies()
    for n in range(200):
        company = f"C{n * 7 % 50:05d}"  # each id added several times
        seen.add(company)
        assert company in seen
    assert all(f"C{n:05d}" in seen for n in range(50))
    assert "C00050" not in seen and "" not in seen and 7 not in seen
    seen.add("")
    assert "" in seen
    seen.close()
