"""Helpers to run the ``tci`` console script as a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
TCI = Path(sys.executable).with_name("tci")


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


def run_tci(
    *args: str, cwd: Path, env: Mapping[str, str] | None = None, timeout: float = 120
) -> Run:
    """Run ``tci`` with a clean TCI_* environment plus ``env``."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("TCI_")}
    base.update(env or {})
    base["COLUMNS"] = (env or {}).get("COLUMNS", "200")  # a test may ask for a narrow one
    proc = subprocess.run(
        [str(TCI), *args],
        cwd=cwd,
        env=base,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def tci_workdir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path


@pytest.fixture(scope="session", autouse=True)
def _console_script_installed() -> None:
    if not TCI.exists():
        pytest.fail(f"the tci console script is not installed beside {sys.executable}")
