"""``[sync] staging_retention_days``: 90 by default, set in the file or the environment,
at least one day."""

from __future__ import annotations

from pathlib import Path

import pytest

from tci_gateway.config import load_settings
from tci_gateway.errors import ConfigError


def test_staging_retention(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TCI_SYNC__STAGING_RETENTION_DAYS", raising=False)
    path = tmp_path / "tci.toml"
    path.write_text("", encoding="utf-8")
    assert load_settings(path).sync.staging_retention_days == 90
    path.write_text("[sync]\nstaging_retention_days = 30\n", encoding="utf-8")
    assert load_settings(path).sync.staging_retention_days == 30
    monkeypatch.setenv("TCI_SYNC__STAGING_RETENTION_DAYS", "7")
    assert load_settings(path).sync.staging_retention_days == 7
    monkeypatch.delenv("TCI_SYNC__STAGING_RETENTION_DAYS")
    path.write_text("[sync]\nstaging_retention_days = 0\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="staging_retention_days"):
        load_settings(path)
