"""The contract suite as a third party runs it: a project of its own whose conftest has
one ``pytest_plugins`` line and one fixture; and tci_gateway without pytest installed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tci_gateway.adapters.contract_suite import resolve_plugin

from .plugin import PLUGIN

REPO = Path(__file__).resolve().parents[2]

CONFTEST = """
import pytest

from tests.plugin_credendo.plugin import PLUGIN

pytest_plugins = ["tci_gateway.adapters.contract_suite"]
{fixture}
"""

FIXTURE = """
@pytest.fixture
def insurer_plugin():
    return PLUGIN
"""


def _pytest(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _project(tmp_path: Path, fixture: str) -> Path:
    (tmp_path / "conftest.py").write_text(CONFTEST.format(fixture=fixture), encoding="utf-8")
    (tmp_path / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    return tmp_path


def test_one_conftest_line_and_a_fixture_run_the_whole_insurer_suite(tmp_path: Path) -> None:
    run = _pytest(_project(tmp_path, FIXTURE), "-rs")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    summary = run.stdout.strip().splitlines()[-1]
    assert summary.startswith("32 passed, 1 skipped"), summary  # the overdue API test
    assert "credendo has no overdue API" in run.stdout


def test_without_the_fixture_no_suite_is_collected(tmp_path: Path) -> None:
    run = _pytest(_project(tmp_path, ""), "--collect-only")
    assert run.returncode == 5, run.stdout[-3000:] + run.stderr[-3000:]  # no tests collected


def test_the_fixture_may_name_a_registered_plugin() -> None:
    assert resolve_plugin("atradius", "insurer").name == "atradius"
    assert resolve_plugin(PLUGIN, "insurer") is PLUGIN


@pytest.mark.parametrize(
    ("value", "message"),
    [("gleif", "is of kind bureau, not insurer"), (42, "must return an AdapterPlugin")],
)
def test_a_fixture_naming_the_wrong_thing_is_refused(value: object, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        resolve_plugin(value, "insurer")


def test_tci_gateway_imports_without_pytest() -> None:
    """Every module of tci_gateway and the built-in adapters imports with pytest absent,
    except the contract suite modules, which need it."""
    script = """
import importlib, pkgutil, sys
sys.modules["pytest"] = None  # any import of pytest now fails
import tci_gateway, tci_adapters
needs_pytest, failed = [], []
for package in (tci_gateway, tci_adapters):
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        if info.name.endswith((".__main__", ".migrations.env")):
            continue  # scripts: run the CLI, or Alembic's environment, when imported
        try:
            importlib.import_module(info.name)
        except ImportError as exc:
            (needs_pytest if "pytest" in str(exc) else failed).append(info.name)
print(sorted(needs_pytest))
print(failed)
"""
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert run.returncode == 0, run.stderr
    needs_pytest, failed = run.stdout.strip().splitlines()
    assert needs_pytest == str(
        [
            "tci_gateway.adapters.contract_suite",
            "tci_gateway.adapters.contract_suite_bureau",
            "tci_gateway.adapters.contract_suite_insurer",
        ]
    )
    assert failed == "[]"
