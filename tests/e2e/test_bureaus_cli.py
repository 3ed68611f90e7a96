"""`tci bureaus load` and `tci bureaus status` as a user runs them (one subprocess
session: a full golden copy loads with exit 0, a delta that leaves a gap is refused
with exit 2 and one line, status shows the watermark; a bureau without a golden copy is
refused before anything is read)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tci_adapters.gleif.sandbox_golden_copy import synthetic_records, write_golden_copy
from tci_gateway.cli.bureaus import _reader
from tci_gateway.cli.state import State
from tci_gateway.errors import ConfigError
from tci_gateway.ledger.engine import make_engine
from tci_gateway.ledger.migrate import upgrade

from .conftest import run_tci

pytestmark = [pytest.mark.e2e]

CONFIG = """\
[database]
url = "sqlite:///{db}"

[logging]
level = "warning"

[bureaus.gleif]
adapter = "gleif"
base_url = "sandbox"
environment = "sandbox"

[bureaus.creditsafe]
adapter = "creditsafe"
base_url = "sandbox"
environment = "sandbox"
"""


def test_load_then_a_gap_then_status(tmp_path: Path) -> None:
    (tmp_path / "tci.toml").write_text(CONFIG.format(db=tmp_path / "ledger.db"))

    def tci(*args: str) -> tuple[int, str, str]:
        run = run_tci("-c", str(tmp_path / "tci.toml"), *args, cwd=tmp_path)
        return run.code, run.stdout, run.stderr

    engine = make_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
    upgrade(engine)  # in process: every `tci` start-up costs CI time
    engine.dispose()
    full = write_golden_copy(tmp_path, synthetic_records(12), publication="20261205-0800")
    code, out, err = tci("--json", "bureaus", "load", "gleif", str(full))
    assert code == 0, err
    report = json.loads(out)
    assert (report["status"], report["inserted"], report["watermark"]) == (
        "applied",
        12,
        "20261205-0800",
    )

    gap = write_golden_copy(
        tmp_path, synthetic_records(2), publication="20261206-1600", delta="IntraDay"
    )
    code, out, err = tci("bureaus", "load", "gleif", str(gap), "--delta")
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "gap" in lines[0] and "20261205-0800" in lines[0]

    code, out, err = tci("--json", "bureaus", "status")
    assert code == 0, err
    shown = json.loads(out)
    assert {k["bureau"] for k in shown} == {"gleif"}  # creditsafe publishes no golden copy
    kinds = {k["kind"]: k for k in shown}
    assert (kinds["lei2"]["watermark"], kinds["lei2"]["rows"]) == ("20261205-0800", 12)
    assert kinds["lei2"]["last_status"] == "refused"
    assert kinds["rr"]["watermark"] is None


def test_a_bureau_without_a_golden_copy_or_not_configured(tmp_path: Path) -> None:
    (tmp_path / "tci.toml").write_text(CONFIG.format(db=tmp_path / "ledger.db"))
    state = State(config=tmp_path / "tci.toml")
    with pytest.raises(ConfigError, match="adapter 'creditsafe' publishes no golden copy"):
        _reader(state, "creditsafe")
    with pytest.raises(ConfigError, match=r"not configured \(configured: creditsafe, gleif\)"):
        _reader(state, "dnb")
    read, options = _reader(state, "gleif")
    assert options == {} and read.__name__ == "read_golden_copy"
