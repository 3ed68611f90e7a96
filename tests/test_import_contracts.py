"""The import contracts (pyproject.toml [tool.importlinter]) hold, and each one can fail.

The second test plants one violation per contract in a copy of the tree and checks that
lint-imports reports that contract broken: a contract that names a module which does not
exist, or that nothing can break, would otherwise pass forever.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

# Per contract id, the modules planted in a copy of the tree to break it (path -> source);
# a path that exists already gets the source appended.
PLANTED: dict[str, dict[str, str]] = {
    "layers": {"src/tci_gateway/http/planted.py": "import tci_gateway.ledger.engine\n"},
    "no-cycles": {
        "src/tci_gateway/erp/planted.py": "import tci_gateway.erp.reader\n",
        "src/tci_gateway/erp/reader.py": "\nimport tci_gateway.erp.planted\n",
    },
    "domain-pure": {"src/tci_gateway/domain/planted.py": "import sqlalchemy\n"},
    "ledger-no-contract": {
        "src/tci_gateway/ledger/planted.py": "import tci_gateway.adapters.contract\n"
    },
    "scheduler-through-ledger": {
        "src/tci_gateway/scheduler/planted.py": "import tci_gateway.ledger.tables\n"
    },
    "services-no-http": {"src/tci_gateway/services/planted.py": "import tci_gateway.http\n"},
    "plugins-below-services": {
        "plugins/tci_adapters/gleif/planted.py": "import tci_gateway.ledger.engine\n"
    },
    "plugins-independent": {"plugins/tci_adapters/dnb/planted.py": "import tci_adapters.gleif\n"},
    "gateway-finds-plugins": {"src/tci_gateway/cli/planted.py": "import tci_adapters.dnb\n"},
}


def _contracts() -> dict[str, str]:
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    return {c["id"]: c["name"] for c in config["tool"]["importlinter"]["contracts"]}


def _lint(cwd: Path, *contracts: str, pythonpath: list[Path] | None = None) -> tuple[int, str]:
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = os.pathsep.join(str(p) for p in pythonpath)
    selected = [arg for contract in contracts for arg in ("--contract", contract)]
    done = subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", *selected],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


def _verdicts(output: str, names: dict[str, str]) -> dict[str, str]:
    found = {}
    for line in output.splitlines():
        for contract_id, name in names.items():
            verdict = line.removeprefix(name + " ").split(" ", 1)[0]
            if line.startswith(name + " ") and verdict in {"KEPT", "BROKEN"}:
                found[contract_id] = verdict
    return found


def test_every_contract_is_kept_by_the_tree() -> None:
    names = _contracts()
    code, output = _lint(REPO)
    assert _verdicts(output, names) == dict.fromkeys(names, "KEPT"), output
    assert code == 0


def test_each_contract_breaks_on_its_planted_violation(tmp_path: Path) -> None:
    names = _contracts()
    assert set(PLANTED) == set(names), "plant a violation for each new contract"
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(REPO / "src" / "tci_gateway", tmp_path / "src" / "tci_gateway", ignore=ignore)
    shutil.copytree(REPO / "adapters", tmp_path / "plugins" / "tci_adapters", ignore=ignore)
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    pythonpath = [tmp_path / "src", tmp_path / "plugins"]
    linted = _module_files(pythonpath)
    assert linted.count(str(tmp_path)) == 2, f"the copy, not the installed tree: {linted}"
    code, output = _lint(tmp_path, pythonpath=pythonpath)
    assert code == 0, output

    for contract_id, plants in PLANTED.items():
        originals = {path: _read(tmp_path / path) for path in plants}
        for path, source in plants.items():
            (tmp_path / path).write_text((originals[path] or "") + source, encoding="utf-8")

        code, output = _lint(tmp_path, contract_id, pythonpath=pythonpath)

        assert _verdicts(output, names) == {contract_id: "BROKEN"}, output
        assert code != 0
        for path, original in originals.items():
            if original is None:
                (tmp_path / path).unlink()
            else:
                (tmp_path / path).write_text(original, encoding="utf-8")


def _read(path: Path) -> str | None:
    return path.read_text(encoding="utf-8") if path.exists() else None


def _module_files(pythonpath: list[Path]) -> str:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(str(p) for p in pythonpath))
    code = "import tci_gateway, tci_adapters; print(tci_gateway.__file__, tci_adapters.__file__)"
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return done.stdout
