"""The ERP's side of the API end to end: ``tci serve`` as a subprocess (SQLite) over a
ledger synced from the Atradius sandbox on loopback, and an ERP client written with
httpx that pulls the covered limits (all, then changed since its cursor, changes by date
included) and pushes open items (idempotently), as an ERP's scheduled job would."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from tci_gateway.adapters.loopback import LoopbackServer

from .conftest import run_tci
from .serve import serving
from .test_cli import credentials_env, loopback_config, prepare
from .test_limits_cli import dated_sandbox

pytestmark = pytest.mark.e2e
__all__ = ["dated_sandbox"]  # the fixture, imported for this module's test


class ErpClient:
    """What an ERP integration does: pages through the limits, keeps the cursor, pushes
    open items in batches with an idempotency key each."""

    def __init__(self, url: str, token: str) -> None:
        self.http = httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
        self.cursor: int | None = None
        self.etag: str | None = None

    def pull_limits(self, page_size: int = 3) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        params: dict[str, Any] = {"limit": page_size}
        if self.cursor is not None:
            params["changed_since"] = self.cursor
        while True:
            response = self.http.get("/v1/limits", params=params)
            response.raise_for_status()
            page = response.json()
            rows += page["covered_limits"]
            if page["next_cursor"] is None:
                self.cursor = page["changed_since_cursor"]
                return rows
            params = {"limit": page_size, "cursor": page["next_cursor"]}

    def push_items(self, items: list[dict[str, Any]], batch_id: str) -> httpx.Response:
        return self.http.post(
            "/v1/open-items", json={"open_items": items}, headers={"Idempotency-Key": batch_id}
        )


@pytest.fixture
def erp_world(
    tmp_path: Path, dated_sandbox: tuple[LoopbackServer, object]
) -> Iterator[tuple[Path, str]]:
    server, sandbox = dated_sandbox
    config = loopback_config(tmp_path, server.url)
    env = credentials_env(sandbox)
    prepare(tmp_path, config, env)
    sync = run_tci(
        "-c", str(config), "--as-of", "2026-11-30", "sync", "limits", cwd=tmp_path, env=env
    )
    assert sync.code == 0, sync.stderr
    key = run_tci(
        "-c", str(config), "--json", "keys", "create", "--name", "erp-sap",
        "--scope", "limits:read", "--scope", "items:write", cwd=tmp_path,
    )  # fmt: skip
    assert key.code == 0, key.stderr
    yield config, json.loads(key.stdout)["token"]


def _serve(config: Path, day: str) -> Any:
    return serving("-c", str(config), "--as-of", day, cwd=config.parent)


def test_an_erp_pulls_changed_limits_and_pushes_open_items(erp_world: tuple[Path, str]) -> None:
    config, token = erp_world
    with _serve(config, "2026-12-01") as served:
        erp = ErpClient(served.url, token)
        first = erp.pull_limits()
        export = run_tci(
            "-c", str(config), "--as-of", "2026-12-01", "export", "limits", "--format", "json",
            cwd=config.parent,
        )  # fmt: skip
        assert export.code == 0, export.stderr
        cli = json.loads(export.stdout)
        assert erp.cursor == cli["cursor"]
        got = {(r["policy"], r["buyer_id"]): (r["status"], r["covered_amount"]) for r in first}
        want = {
            (r["policy"], int(r["buyer_id"])): (r["status"], r["covered_amount"])
            for r in cli["covered_limits"]
        }
        assert got == want and len(got) >= 8
        assert erp.pull_limits() == []  # nothing changed since
        # the CSV page is the export's CSV (same columns, formula-escaped)
        as_csv = erp.http.get("/v1/limits", headers={"Accept": "text/csv"})
        header = next(csv.reader(io.StringIO(as_csv.text)))
        assert header[:3] == ["erp_accounts", "buyer_id", "buyer_name"]
        # the ERP pushes its new invoices; a retried batch changes nothing
        items = [
            {
                "erp_account": "C1001",
                "document_number": f"INV-API-{n}",
                "kind": "INVOICE",
                "document_date": "2026-11-30",
                "due_date": "2027-01-29",
                "currency": "EUR",
                "amount": "1000.00",
                "open_amount": "1000.00",
            }
            for n in range(5)
        ]
        before = _exposure(erp, "C1001")
        pushed = erp.push_items(items, "sap-2026-11-30-1")
        assert pushed.status_code == 200, pushed.text
        assert pushed.json()["inserted"] == 5
        retried = erp.push_items(items, "sap-2026-11-30-1")
        assert retried.json() == pushed.json()
        assert retried.headers["Idempotent-Replayed"] == "true"
        assert _exposure(erp, "C1001") == before + Decimal("5000.00")
        bad = erp.push_items([{**items[0], "currency": "EURO"}], "sap-2026-11-30-2")
        assert bad.status_code == 422
        assert bad.json()["errors"][0] == {
            "index": 0,
            "field": "currency",
            "reason": bad.json()["errors"][0]["reason"],
        }
    # the next days: the service rolls the limits to its date; the ERP gets the change
    with _serve(config, "2026-12-03") as served:
        again = ErpClient(served.url, token)
        again.cursor = erp.cursor
        changed = again.pull_limits()
        assert [(r["buyer_name"], r["covered_amount"]) for r in changed] == [
            ("Bouwbedrijf Van Dijk B.V.", "100000.00")
        ]
        assert again.pull_limits() == []


def _exposure(erp: ErpClient, account: str) -> Decimal:
    response = erp.http.get("/v1/exposure", params={"buyer": account})
    response.raise_for_status()
    (row,) = response.json()["exposure"]
    return Decimal(row["exposure"])
