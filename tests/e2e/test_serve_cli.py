"""``tci keys`` and ``tci serve`` as subprocesses: a key's secret is shown once and works,
its revocation takes effect at the next request, and start-up failures are one line."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from .conftest import run_tci
from .serve import serving

pytestmark = pytest.mark.e2e


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "tci.toml"
    path.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "ledger.db"}"\n', encoding="utf-8")
    return path


def test_keys_create_list_revoke_and_serve(tmp_path: Path) -> None:
    config = _config(tmp_path)
    cfg = ("-c", str(config))
    assert run_tci(*cfg, "db", "upgrade", cwd=tmp_path).code == 0

    created = run_tci(
        *cfg,
        "keys",
        "create",
        "--name",
        "erp-sap",
        "--scope",
        "limits:read",
        "--json",
        cwd=tmp_path,
    )
    assert created.code == 0, created.stderr
    token = created.json()["token"]
    assert token.startswith("tci_") and created.json()["scopes"] == ["limits:read"]

    listed = run_tci(*cfg, "keys", "list", "--json", cwd=tmp_path)
    assert listed.code == 0
    assert [k["name"] for k in listed.json()] == ["erp-sap"]
    assert token not in listed.stdout  # the secret is never shown again
    assert token.split("_")[2] not in (tmp_path / "ledger.db").read_bytes().decode("latin-1")

    with serving(*cfg, cwd=tmp_path) as served:
        assert token not in served.output()
        ready = httpx.get(f"{served.url}/readyz", timeout=5)
        assert ready.status_code == 200 and ready.json()["schema_revision"]
        auth = {"Authorization": f"Bearer {token}"}
        openapi = httpx.get(f"{served.url}/openapi.json", timeout=5)
        assert openapi.json()["openapi"].startswith("3.1")
        # the key authenticates: a route needing another scope says 403, not 401
        refused = httpx.post(f"{served.url}/v1/cover-requests", headers=auth, json={}, timeout=5)
        assert refused.status_code == 403, refused.text

        revoked = run_tci(*cfg, "keys", "revoke", "erp-sap", cwd=tmp_path)
        assert revoked.code == 0 and "revoked" in revoked.stdout
        after = httpx.post(f"{served.url}/v1/cover-requests", headers=auth, json={}, timeout=5)
        assert after.status_code == 401
        assert "revoked" in after.json()["detail"]
        assert token not in served.output()


def test_unknown_scope_and_duplicate_name_are_one_line_exit_2(tmp_path: Path) -> None:
    cfg = ("-c", str(_config(tmp_path)))
    assert run_tci(*cfg, "db", "upgrade", cwd=tmp_path).code == 0
    bad = run_tci(*cfg, "keys", "create", "--name", "x", "--scope", "limits:write", cwd=tmp_path)
    assert bad.code == 2
    assert "unknown scope limits:write" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    assert (
        run_tci(*cfg, "keys", "create", "--name", "x", "--scope", "admin", cwd=tmp_path).code == 0
    )
    again = run_tci(*cfg, "keys", "create", "--name", "x", "--scope", "admin", cwd=tmp_path)
    assert again.code == 2 and "exists already" in again.stderr
    missing = run_tci(*cfg, "keys", "revoke", "nobody", cwd=tmp_path)
    assert missing.code == 2 and "no key named 'nobody'" in missing.stderr


def test_serve_on_an_unmigrated_ledger_is_one_line(tmp_path: Path) -> None:
    cfg = ("-c", str(_config(tmp_path)))
    result = run_tci(*cfg, "serve", "--port", "0", cwd=tmp_path, timeout=60)
    assert result.code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "tci db upgrade" in lines[0], result.stderr
