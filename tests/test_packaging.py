"""Packaging: the wheel built from this tree ships every package and data file, and an
installed copy loads every built-in adapter through its entry point."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from tci_gateway.adapters.contract import AdapterPlugin
from tci_gateway.adapters.registry import available, load_plugin

REPO = Path(__file__).resolve().parents[1]
ROOTS = {"tci_gateway": REPO / "src" / "tci_gateway", "tci_adapters": REPO / "adapters"}
DATA = ("tci_gateway/py.typed", "tci_gateway/ledger/migrations/script.py.mako")


def _on_disk(suffix: str) -> set[str]:
    """Files of the two package roots ending in ``suffix``, as paths inside a wheel."""
    found = set()
    for name, root in ROOTS.items():
        for path in root.rglob(f"*{suffix}"):
            if "__pycache__" not in path.parts:
                found.add("/".join((name, *path.relative_to(root).parts)))
    return found


def _packages(files: set[str]) -> set[str]:
    return {
        f.removesuffix("/__init__.py").replace("/", ".")
        for f in files
        if f.endswith("/__init__.py")
    }


def _declared_adapters() -> set[str]:
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    return set(config["project"]["entry-points"]["tci_gateway.adapters"])


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel built (as ``pip install .`` builds it) from a copy of the sources."""
    source = tmp_path_factory.mktemp("source")
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for part in ("src", "adapters"):
        shutil.copytree(REPO / part, source / part, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), "."],
        cwd=source,
        check=True,
        capture_output=True,
    )
    (built,) = out.glob("tci_gateway-*.whl")
    return built


@pytest.mark.slow
def test_the_wheel_ships_every_package_module_and_data_file(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = _on_disk(".py")

    assert _packages(names) == _packages(modules)
    assert {"tci_adapters.gleif", "tci_gateway.ledger.migrations.versions"} <= _packages(names)
    assert modules <= names
    assert set(DATA) <= names
    web = REPO / "src" / "tci_gateway" / "web"
    pages = {  # the workspace's templates and static files (CSS, script)
        "/".join(("tci_gateway", "web", *p.relative_to(web).parts))
        for folder in ("templates", "static")
        for p in (web / folder).rglob("*")
        if p.is_file()
    }
    assert pages and pages <= names, sorted(pages - names)
    assert {n for n in names if n.startswith("tci_gateway/ledger/migrations/versions/")} == {
        m for m in modules if m.startswith("tci_gateway/ledger/migrations/versions/")
    }


@pytest.mark.slow
def test_an_installed_wheel_loads_every_adapter_and_finds_its_migrations(
    wheel: Path, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "install", "--no-deps", "--quiet"]
    subprocess.run(
        [*pip, "--target", str(site), str(wheel)],
        check=True,
        capture_output=True,
    )
    probe = """
import json, sys
from pathlib import Path
import tci_gateway
from tci_gateway.adapters.registry import available, load_plugin
from tci_gateway.ledger import migrations
plugins = {n: sys.modules[load_plugin(n).create.__module__].__file__ for n in available()}
print(json.dumps({
    "package": tci_gateway.__file__,
    "plugins": plugins,
    "migrations": sorted(p.name for p in Path(migrations.__file__).parent.rglob("*.*")),
}))
"""
    env = dict(os.environ, PYTHONPATH=str(site))
    done = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
    )
    found = json.loads(done.stdout)

    assert found["package"].startswith(str(site))
    assert set(found["plugins"]) >= _declared_adapters()
    assert all(path.startswith(str(site)) for path in found["plugins"].values())
    assert {"script.py.mako", "env.py"} <= set(found["migrations"])
    assert (site / "tci_gateway" / "py.typed").is_file()


def test_every_adapter_entry_point_loads_a_plugin() -> None:
    declared = _declared_adapters()
    assert declared <= set(available())
    for name in declared:
        plugin = load_plugin(name)
        assert isinstance(plugin, AdapterPlugin) and plugin.name == name


def test_unknown_adapter_names_the_known_ones() -> None:
    with pytest.raises(LookupError, match=r"known adapters: .*atradius"):
        load_plugin("no-such-insurer")
